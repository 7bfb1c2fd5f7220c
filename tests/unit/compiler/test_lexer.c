/* test_lexer.c — the scanner (frontend/lexer.l) and the diagnostics printer
 * (frontend/diag.c): tokens, their locations, numbers and their limits,
 * lexical errors, and the exact form of an error with its caret.
 *
 * The scanner is driven directly, the way the parser drives it.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frontend/parse.h"
#include "lexer.h"
#include "check_util.h"

enum { MAXTOK = 64 };

typedef struct {
    int tok[MAXTOK];
    YYSTYPE val[MAXTOK];
    YYLTYPE loc[MAXTOK];
    int n;                  /* tokens before the end of file */
    char *msgs;
    size_t len;
    int nerrors;
    Arena *arena;
} Lexed;

static Lexed *lex_n(const char *src, long len)
{
    Lexed *lx = calloc(1, sizeof *lx);
    FILE *f = open_memstream(&lx->msgs, &lx->len);
    Diag d;
    diag_init(&d, "t.cnn", src, len, f);
    PState ps;
    memset(&ps, 0, sizeof ps);
    ps.d = &d;
    ps.arena = lx->arena = arena_new();
    ps.src = src;
    ps.len = len;
    ps.line = ps.col = 1;
    yyscan_t sc;
    ck_assert_int_eq(yylex_init_extra(&ps, &sc), 0);
    yy_scan_bytes(src, (int)len, sc);
    for (int i = 0; i < MAXTOK; i++) {
        lx->tok[i] = yylex(&lx->val[i], &lx->loc[i], sc);
        if (lx->tok[i] == YYEOF)
            break;
        lx->n++;
    }
    yylex_destroy(sc);
    fclose(f);
    lx->nerrors = d.nerrors;
    return lx;
}

static Lexed *lex(const char *src)
{
    return lex_n(src, strlen(src));
}

static void done(Lexed *lx)
{
    arena_free(lx->arena);
    free(lx->msgs);
    free(lx);
}

static void expect_loc(const Lexed *lx, int i, int line, int col, int endcol)
{
    Loc l = fe_loc(lx->loc[i]);
    ck_assert_msg(l.line == line && l.col == col && l.endcol == endcol,
                  "token %d at %d:%d-%d, expected %d:%d-%d", i, l.line, l.col, l.endcol,
                  line, col, endcol);
}

START_TEST(test_tokens)
{
    Lexed *lx = lex("model m { input x[1, 28] conv(6, k=5) -> relu; output a, b }\n"
                    "train true false models input_ - --> =");
    static const int want[] = {
        MODEL, IDENT, '{', INPUT, IDENT, '[', NUMBER, ',', NUMBER, ']',
        IDENT, '(', NUMBER, ',', IDENT, '=', NUMBER, ')', ARROW, IDENT, ';',
        OUTPUT, IDENT, ',', IDENT, '}',
        TRAIN, TRUE, FALSE, IDENT, IDENT, '-', '-', ARROW, '=',
    };
    int n = sizeof want / sizeof *want;
    ck_assert_int_eq(lx->n, n);
    for (int i = 0; i < n; i++)
        ck_assert_msg(lx->tok[i] == want[i], "token %d is %d, expected %d", i, lx->tok[i], want[i]);
    ck_assert_str_eq(lx->val[1].str, "m");
    ck_assert_str_eq(lx->val[29].str, "models");
    ck_assert_str_eq(lx->val[30].str, "input_");
    ck_assert_int_eq(lx->nerrors, 0);
    done(lx);
}
END_TEST

START_TEST(test_locations)
{
    /* a tab is one column; comments vanish; the end of file comes just
     * after the last token */
    Lexed *lx = lex("# comment -> (\na\n\tbc  -> 12.5e-1 # more\n\n  \"s t\"  \n");
    ck_assert_int_eq(lx->n, 5);
    expect_loc(lx, 0, 2, 1, 1);
    expect_loc(lx, 1, 3, 2, 3);
    expect_loc(lx, 2, 3, 6, 7);
    expect_loc(lx, 3, 3, 9, 15);
    expect_loc(lx, 4, 5, 3, 7);
    ck_assert_str_eq(lx->val[4].str, "s t");
    expect_loc(lx, 5, 5, 8, 8);
    ck_assert_int_eq(lx->tok[5], YYEOF);
    done(lx);
}
END_TEST

START_TEST(test_numbers)
{
    Lexed *lx = lex("5 0.001 1e-3 .5 3. 2147483647 1E+2 0");
    static const int isint[] = { 1, 0, 0, 0, 0, 1, 0, 1 };
    static const double val[] = { 5, 0.001, 0.001, 0.5, 3, 2147483647, 100, 0 };
    ck_assert_int_eq(lx->n, 8);
    for (int i = 0; i < 8; i++) {
        ck_assert_int_eq(lx->tok[i], NUMBER);
        ck_assert_int_eq(lx->val[i].num.isint, isint[i]);
        ck_assert_int_eq(lx->val[i].num.bad, 0);
        ck_assert_double_eq_tol(lx->val[i].num.f, val[i], 1e-12);
        if (isint[i])
            ck_assert_int_eq(lx->val[i].num.i, (long)val[i]);
    }
    ck_assert_str_eq(lx->val[2].num.text, "1e-3");
    ck_assert_int_eq(lx->nerrors, 0);
    done(lx);
}
END_TEST

START_TEST(test_number_limits)
{
    Lexed *lx = lex("2147483648 99999999999999999999999 1e39 1e-50 1e999 5x 1.2.3 1e");
    ck_assert_int_eq(lx->n, 8);
    for (int i = 0; i < 8; i++) {
        ck_assert_int_eq(lx->tok[i], NUMBER);
        ck_assert_int_eq(lx->val[i].num.bad, 1);
    }
    ck_assert_int_eq(lx->nerrors, 8);
    ck_assert_msg(strstr(lx->msgs, "t.cnn:1:1: error: integer '2147483648' is too large; "
                         "the limit is 2147483647\n"), "%s", lx->msgs);
    ck_assert_msg(strstr(lx->msgs, "error: number '1e39' is too large for a float\n"), "%s",
                  lx->msgs);
    ck_assert_msg(strstr(lx->msgs, "error: number '1e-50' is too small for a float\n"), "%s",
                  lx->msgs);
    ck_assert_msg(strstr(lx->msgs, "error: invalid number '5x'\n"), "%s", lx->msgs);
    ck_assert_msg(strstr(lx->msgs, "error: invalid number '1.2.3'\n"), "%s", lx->msgs);
    done(lx);
}
END_TEST

START_TEST(test_long_identifiers)
{
    char *s = malloc(100002);
    memset(s, 'a', 255);
    s[255] = 0;
    Lexed *lx = lex(s);
    ck_assert_int_eq(lx->nerrors, 0);
    ck_assert_int_eq(strlen(lx->val[0].str), 255);
    done(lx);

    memset(s, 'b', 100000);
    s[100000] = 0;
    lx = lex(s);
    ck_assert_int_eq(lx->n, 1);
    ck_assert_int_eq(lx->tok[0], IDENT);
    ck_assert_int_eq(lx->nerrors, 1);
    ck_assert_msg(strstr(lx->msgs, "t.cnn:1:1: error: identifier is 100000 characters long; "
                         "the limit is 255\n"), "%s", lx->msgs);
    expect_loc(lx, 0, 1, 1, 100000);
    ck_assert_int_le(lx->len, 600);        /* the line is shown cut */
    done(lx);
    free(s);
}
END_TEST

START_TEST(test_invalid_characters)
{
    Lexed *lx = lex_n("a \x01 @ \xe2\x86\x92 \xff\xfe b \"open\n$", 22);
    ck_assert_int_eq(lx->n, 3);
    ck_assert_int_eq(lx->tok[0], IDENT);
    ck_assert_int_eq(lx->tok[1], IDENT);
    ck_assert_int_eq(lx->tok[2], STRING);
    ck_assert_str_eq(lx->val[2].str, "open");
    expect_loc(lx, 1, 1, 14, 14);
    ck_assert_int_eq(lx->nerrors, 7);
    static const char *const want[] = {
        "t.cnn:1:3: error: invalid character '\\x01'\n",
        "t.cnn:1:5: error: invalid character '@'\n",
        "t.cnn:1:7: error: invalid character '\xe2\x86\x92'\n",
        "t.cnn:1:7: note: did you mean '->'?\n",
        "t.cnn:1:11: error: invalid character '\\xff'\n",
        "t.cnn:1:12: error: invalid character '\\xfe'\n",
        "t.cnn:1:16: error: missing terminating '\"' character\n",
        "t.cnn:2:1: error: invalid character '$'\n",
    };
    for (size_t i = 0; i < sizeof want / sizeof *want; i++)
        ck_assert_msg(strstr(lx->msgs, want[i]), "no '%s' in:\n%s", want[i], lx->msgs);
    done(lx);
}
END_TEST

START_TEST(test_nul_byte)
{
    Lexed *lx = lex_n("a\0b", 3);
    ck_assert_int_eq(lx->n, 2);
    ck_assert_int_eq(lx->nerrors, 1);
    ck_assert_msg(strstr(lx->msgs, "t.cnn:1:2: error: invalid character '\\x00'\n"), "%s",
                  lx->msgs);
    done(lx);
}
END_TEST

/* ---- diagnostics ---- */

typedef struct {
    Diag d;
    char *out;
    size_t len;
    FILE *f;
} Printer;

static void open_printer(Printer *p, const char *file, const char *src)
{
    p->f = open_memstream(&p->out, &p->len);
    diag_init(&p->d, file, src, src ? (long)strlen(src) : 0, p->f);
}

static void close_printer(Printer *p)
{
    fclose(p->f);
}

START_TEST(test_diag_caret)
{
    Printer p;
    open_printer(&p, "t.cnn", "model m {\n\tconv(6) -> rleu\n}\n");
    diag_error(&p.d, (Loc){ 2, 13, 16 }, "unknown op '%s'", "rleu");
    diag_note(&p.d, (Loc){ 2, 13, 16 }, "did you mean '%s'?", "relu");
    diag_error(&p.d, (Loc){ 3, 2, 2 }, "after the brace");
    diag_error(&p.d, (Loc){ 0, 0, 0 }, "no location");
    diag_warning(&p.d, (Loc){ 1, 1, 5 }, "a warning");
    close_printer(&p);
    ck_assert_str_eq(p.out,
        "t.cnn:2:13: error: unknown op 'rleu'\n"
        "\tconv(6) -> rleu\n"
        "\t           ^~~~\n"
        "t.cnn:2:13: note: did you mean 'relu'?\n"
        "t.cnn:3:2: error: after the brace\n"
        "}\n"
        " ^\n"
        "t.cnn: error: no location\n"
        "t.cnn:1:1: warning: a warning\n"
        "model m {\n"
        "^~~~~\n");
    ck_assert_int_eq(diag_errors(&p.d), 3);
    ck_assert_int_eq(p.d.nwarnings, 1);
    free(p.out);
}
END_TEST

START_TEST(test_diag_utf8_and_control)
{
    Printer p;
    open_printer(&p, "t.cnn", "x = \"\xc3\xa9\xc3\xa9\" \x01 y\r\n");
    diag_error(&p.d, (Loc){ 1, 14, 14 }, "at y");
    close_printer(&p);
    /* two 2-byte characters take two cells; \x01 shows as '?'; CR dropped */
    ck_assert_str_eq(p.out,
        "t.cnn:1:14: error: at y\n"
        "x = \"\xc3\xa9\xc3\xa9\" ? y\n"
        "           ^\n");
    free(p.out);
}
END_TEST

START_TEST(test_diag_long_line)
{
    char src[2000];
    memset(src, 'x', 1500);
    memcpy(src + 1000, "HERE", 4);
    src[1500] = 0;
    Printer p;
    open_printer(&p, "t.cnn", src);
    diag_error(&p.d, (Loc){ 1, 1001, 1004 }, "long");
    close_printer(&p);
    /* the echoed line is a window around the caret, and the caret is under
     * the H of HERE */
    char *line = strchr(p.out, '\n') + 1;
    char *caret = strchr(line, '\n') + 1;
    ck_assert_int_le(strchr(line, '\n') - line, 130);
    ck_assert_int_eq(strncmp(line, "...", 3), 0);
    char *h = strstr(line, "HERE");
    ck_assert_ptr_nonnull(h);
    ck_assert_int_eq(caret[h - line], '^');
    ck_assert_int_eq(strncmp(caret + (h - line), "^~~~\n", 5), 0);
    free(p.out);
}
END_TEST

START_TEST(test_diag_cap)
{
    Printer p;
    open_printer(&p, "t.cnn", "a\n");
    for (int i = 0; i < DIAG_MAX_ERRORS + 5; i++) {
        diag_error(&p.d, (Loc){ 1, 1, 1 }, "error %d", i + 1);
        diag_note(&p.d, (Loc){ 1, 1, 1 }, "note %d", i + 1);
    }
    diag_fatal(&p.d, "fatal");
    close_printer(&p);
    ck_assert_int_eq(diag_errors(&p.d), DIAG_MAX_ERRORS + 6);
    ck_assert_ptr_nonnull(strstr(p.out, "error: error 20\n"));
    ck_assert_ptr_nonnull(strstr(p.out, "note: note 20\n"));
    ck_assert_ptr_null(strstr(p.out, "error 21"));
    ck_assert_ptr_null(strstr(p.out, "note 21"));
    ck_assert_ptr_null(strstr(p.out, "fatal\n"));
    const char *cap = "t.cnn: fatal error: too many errors; stopping after 20\n";
    char *at = strstr(p.out, cap);
    ck_assert_ptr_nonnull(at);
    ck_assert_ptr_null(strstr(at + strlen(cap), "too many"));         /* said once */
    ck_assert_int_eq(strlen(at), strlen(cap));              /* and last */
    free(p.out);
}
END_TEST

START_TEST(test_diag_fatal)
{
    Printer p;
    open_printer(&p, NULL, NULL);
    diag_fatal(&p.d, "cannot open '%s'", "x.cnn");
    diag_error(&p.d, (Loc){ 3, 1, 1 }, "no source to show");
    close_printer(&p);
    ck_assert_str_eq(p.out, "cnnc: error: cannot open 'x.cnn'\n"
                            "cnnc:3:1: error: no source to show\n");
    free(p.out);
}
END_TEST

START_TEST(test_nearest)
{
    static const char *const ops[] = { "conv", "dense", "relu", "softmax", "maxpool",
                                       "sigmoid", "batchnorm", "leaky_relu" };
    static const struct { const char *word, *want; } cases[] = {
        { "rleu", "relu" }, { "Relu", "relu" }, { "sofmax", "softmax" },
        { "sigmiod", "sigmoid" }, { "conv2d", "conv" }, { "dens", "dense" },
        { "batchnrom", "batchnorm" }, { "leakyrelu", "leaky_relu" }, { "maxpool", "maxpool" },
        { "pool", NULL }, { "xyz", NULL }, { "r", NULL }, { "", NULL },
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const char *got = diag_nearest(cases[i].word, ops, 8);
        ck_assert_msg(got == cases[i].want || (got && cases[i].want && !strcmp(got, cases[i].want)),
                      "nearest('%s') = %s, expected %s", cases[i].word, got ? got : "NULL",
                      cases[i].want ? cases[i].want : "NULL");
    }
    static const char *const tensors[] = { "x", "c1", "c2" };
    ck_assert_str_eq(diag_nearest("y", tensors, 3), "x");
    ck_assert_str_eq(diag_nearest("c3", tensors, 3), "c1");
    ck_assert_ptr_null(diag_nearest("zebra", tensors, 3));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("lexer");
    TCase *tl = tcase_create("scanner");
    tcase_add_test(tl, test_tokens);
    tcase_add_test(tl, test_locations);
    tcase_add_test(tl, test_numbers);
    tcase_add_test(tl, test_number_limits);
    tcase_add_test(tl, test_long_identifiers);
    tcase_add_test(tl, test_invalid_characters);
    tcase_add_test(tl, test_nul_byte);
    suite_add_tcase(s, tl);
    TCase *td = tcase_create("diag");
    tcase_add_test(td, test_diag_caret);
    tcase_add_test(td, test_diag_utf8_and_control);
    tcase_add_test(td, test_diag_long_line);
    tcase_add_test(td, test_diag_cap);
    tcase_add_test(td, test_diag_fatal);
    tcase_add_test(td, test_nearest);
    suite_add_tcase(s, td);
    return check_run(s, 1);
}
