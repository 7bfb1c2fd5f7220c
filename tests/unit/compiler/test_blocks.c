/* test_blocks.c — blocks in the front end: what an expansion builds
 * (parameter names with the block path, shapes, numeric parameters as op
 * arguments, defaults, keyword arguments, a second tensor parameter),
 * that names are stable (layers outside a use do not rename those inside
 * it), and that examples/yolox_nano.cnn and its flat form
 * tests/models/yolox_nano_flat.cnn agree on every --stats total.
 * The messages for misuse are tests/golden/block_*.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frontend/frontend.h"
#include "check_util.h"

static Graph *good(const char *src)
{
    static char err[4096];
    Graph *g = check_compile(src, err, sizeof err);
    ck_assert_msg(g != NULL, "unexpected errors:\n%s", err);
    return g;
}

static const Param *param(const Graph *g, const char *name)
{
    for (int i = 0; i < g->nparams; i++)
        if (!strcmp(g->params[i].name, name))
            return &g->params[i];
    ck_abort_msg("no parameter '%s'", name);
    return NULL;
}

static const char *blocks =
    "block cbs(x: tensor, f, k = 1, s = 1) {\n"
    "    conv(f, kernel=k, stride=s, pad=same, bias=false) -> batchnorm -> silu\n"
    "}\n"
    "block fuse(x: tensor, skip: tensor, f) {\n"
    "    y = concat(x, skip) -> cbs(f, k=[3, 1])\n"
    "    output y\n"
    "}\n";

START_TEST(expansion)
{
    char src[2048];
    snprintf(src, sizeof src, "%s"
             "model m {\n    input image[3, 16, 16]\n"
             "    stem = cbs(8, 3)\n"
             "    neck = stem -> cbs(4) -> fuse(stem, 6)\n"
             "}\n", blocks);
    Graph *g = good(src);
    const Param *w = param(g, "stem.conv1.weight");
    ck_assert_int_eq(w->rank, 4);
    ck_assert_int_eq(w->shape[0], 8);
    ck_assert_int_eq(w->shape[1], 3);
    ck_assert_int_eq(w->shape[2], 3);           /* k = 3, positional */
    param(g, "stem.batchnorm1.running_var");
    w = param(g, "neck.0.conv1.weight");        /* k = 1, the default */
    ck_assert_int_eq(w->shape[0], 4);
    ck_assert_int_eq(w->shape[2], 1);
    w = param(g, "neck.1.y.conv1.weight");      /* nested: fuse -> cbs */
    ck_assert_int_eq(w->shape[0], 6);
    ck_assert_int_eq(w->shape[1], 12);          /* concat of 4 and 8 channels */
    ck_assert_int_eq(w->shape[2], 3);           /* k = [3, 1] through a list */
    ck_assert_int_eq(w->shape[3], 1);
    Shape out = g->vals[g->outputs[0]].shape;
    ck_assert_int_eq(out.d[0], 6);
    ck_assert_int_eq(out.d[1], 16);
    ir_free(g);
}
END_TEST

/* a layer added before a use renames nothing inside it */
START_TEST(stable_names)
{
    char a[2048], b[2048];
    snprintf(a, sizeof a, "%smodel m {\n    input image[3, 8, 8]\n"
             "    neck = cbs(4) -> cbs(4)\n}\n", blocks);
    snprintf(b, sizeof b, "%smodel m {\n    input image[3, 8, 8]\n"
             "    conv(3, pad=1) -> batchnorm -> cbs(3)\n"
             "    neck = cbs(4) -> cbs(4)\n}\n", blocks);
    Graph *ga = good(a), *gb = good(b);
    int found = 0;
    for (int i = 0; i < ga->nparams; i++) {
        const Param *p = param(gb, ga->params[i].name);
        ck_assert_int_eq(p->size, ga->params[i].size);
        found += !strncmp(p->name, "neck.1.conv1.", 13);
    }
    ck_assert_int_eq(found, 1);
    param(gb, "cbs1.conv1.weight");             /* an unnamed use: block + count */
    ir_free(ga);
    ir_free(gb);
}
END_TEST

/* the same network with and without blocks: the --stats totals */
static void totals(const char *file, char *buf, int len)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "\"$CNNC\" --stats --emit=none %s | grep -E '^(total|trainable)'", file);
    FILE *p = popen(cmd, "r");
    ck_assert_ptr_nonnull(p);
    int n = (int)fread(buf, 1, len - 1, p);
    buf[n > 0 ? n : 0] = 0;
    ck_assert_int_eq(pclose(p), 0);
    for (char *s = buf; *s; s++)        /* the column width follows the names */
        while (s[0] == ' ' && s[1] == ' ')
            memmove(s, s + 1, strlen(s));
}

START_TEST(yolox_flat)
{
    char a[512], b[512];
    totals("examples/yolox_nano.cnn", a, sizeof a);
    totals("tests/models/yolox_nano_flat.cnn", b, sizeof b);
    ck_assert_msg(strstr(a, "trainable parameters: 910,863") != NULL, "got %s", a);
    ck_assert_str_eq(a, b);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("blocks");
    TCase *tc = tcase_create("blocks");
    tcase_add_test(tc, expansion);
    tcase_add_test(tc, stable_names);
    tcase_add_test(tc, yolox_flat);
    suite_add_tcase(s, tc);
    return check_run(s, 1);
}
