/* parse.h — state shared by the scanner (lexer.l) and the parser
 * (parser.y); internal to the frontend (and its unit tests).
 *
 * Error recovery works like this: when the parser reports a syntax error,
 * it asks the scanner to resynchronise (`recover`).  The scanner then lets
 * the rest of the broken statement go by and hands the parser a SYNC token
 * just before the next statement: the first token of a later line that can
 * start one (unless the line before ended in ',', '(', '[', '=' or '->',
 * which continue onto the next line), a ';', the block's '}', or, at the top
 * level, the next `model` or `train`.  The grammar's `error SYNC` rules then
 * drop the broken statement and parsing goes on.
 */
#ifndef PARSE_H
#define PARSE_H

#include "ast.h"
#include "support/diag.h"
#include "parser.h"

enum { REC_NONE, REC_STMT, REC_TOP };

typedef struct {
    int tok;
    YYSTYPE val;
    YYLTYPE loc;
} Token;

typedef struct PState {
    Diag *d;
    Arena *arena;
    AProgram *prog;
    const char *src;
    long len;

    /* scanner position: 1-based line and column of the next byte */
    int line, col;

    /* the last tokens handed to the parser, newest first */
    Token hist[3];

    /* brace depth of the tokens scanned so far (never below 0) */
    int depth;

    /* recovery: see above */
    int recover;
    int rec_line;               /* REC_STMT: the line being skipped */
    Token pend[2];              /* tokens to hand out before scanning */
    int npend;
    YYLTYPE pushed;             /* the last token handed over again */

    /* the block being parsed, for "missing '}'" */
    AModel *model;              /* inside `model x { ... }` */
    ATrain *train;              /* inside `train { ... }` */

    int badchar_line;           /* line of the last invalid character */
    int prev_chain_line;        /* last line of the previous chain statement
                                   in this block, 0 after ';' or others */
} PState;

/* the parser's scanner: hands out pending tokens, SYNC, and keeps history */
int yylex(YYSTYPE *lval, YYLTYPE *lloc, yyscan_t scanner);

/* Can tok start a statement of the current block?  Does a line ending in
 * tok continue on the next? (for recovery) */
int fe_starts_statement(const PState *ps, int tok);
int fe_continues_line(int tok);

/* Parse a whole file.  The tree lives in `a`; errors go to d. */
AProgram *fe_parse(Diag *d, Arena *a, const char *src, long len);

/* YYLTYPE (multi-line capable) to Loc (one line) */
Loc fe_loc(YYLTYPE l);

#endif
