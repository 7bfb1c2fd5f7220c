/* test_link.c — generated models in real programs: four models linked
 * into one C program (a training build, an --inference build of the same
 * network under another --prefix, and two --embed-runtime models beside
 * libcnnrt.a), which agree with each other; a C++ program using a
 * generated header and the public runtime headers, built by g++;
 * cnnc -MD/-MF dependency files; the one error for an output directory
 * that does not exist; a bad --prefix; --emit=dot's graph (every node
 * declared with a label, no duplicate edges, fused activations, named
 * gradients).
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "check_util.h"

static const char *B, *SAN;
static char dir[512];

static void setup(void)
{
    snprintf(dir, sizeof dir, "%s/gen/link", B);
    ck_assert_int_eq(sh("rm -rf %s && mkdir -p %s", dir, dir), 0);
}

/* cnnc FLAGS tests/models/CNN -o dir/OUT.c, compiled by cc to dir/OUT.o */
static void model(const char *flags, const char *cnn, const char *out)
{
    ck_assert_int_eq(sh("\"$CNNC\" %s tests/models/%s -o %s/%s.c", flags, cnn, dir, out), 0);
    ck_assert_int_eq(sh("cc -std=c99 -O1 -Wall -Wextra -Werror %s -Iruntime/include -c -o %s/%s.o %s/%s.c",
                        SAN, dir, out, dir, out), 0);
}

/* the user program: the three builds of tinyclf, initialised from one
 * seed, give the same output; convs (a second embedded runtime) runs */
static const char user_c[] =
    "#include <math.h>\n#include <stdio.h>\n#include <stdlib.h>\n"
    "#include \"tinyclf.h\"\n#include \"tinyclf_inf.h\"\n#include \"emb.h\"\n#include \"convs.h\"\n"
    "int main(void)\n{\n"
    "    float x[TINYCLF_IN_SIZE], cx[CONVS_IN_SIZE] = { 0 };\n"
    "    for (int i = 0; i < TINYCLF_IN_SIZE; i++) x[i] = (float)((i * 7) % 11) / 11.0f;\n"
    "    tinyclf *a = tinyclf_new(); tinyclf_inf *b = tinyclf_inf_new(); emb *c = emb_new();\n"
    "    convs *d = convs_new();\n"
    "    if (!a || !b || !c || !d) return 2;\n"
    "    tinyclf_init(a, 5); tinyclf_inf_init(b, 5); emb_init(c, 5); convs_init(d, 5);\n"
    "    tinyclf_set_training(a, 0); emb_set_training(c, 0);  /* dropout off */\n"
    "    const float *p = tinyclf_forward(a, x, 1), *q = tinyclf_inf_forward(b, x, 1);\n"
    "    const float *r = emb_forward(c, x, 1), *s = convs_forward(d, cx, 1);\n"
    "    double diff = 0;\n"
    "    for (int k = 0; k < TINYCLF_OUT_SIZE; k++)\n"
    "        diff = fmax(diff, fmax(fabs(p[k] - q[k]), fabs(p[k] - r[k])));\n"
    "    printf(\"%g %d %.4f\\n\", diff, isfinite(s[0]) != 0, p[0]);\n"
    "    tinyclf_free(a); tinyclf_inf_free(b); emb_free(c); convs_free(d);\n"
    "    return diff < 1e-5 ? 0 : 1;\n}\n";

START_TEST(four_models_one_program)
{
    setup();
    model("", "tinyclf.cnn", "tinyclf");
    model("--inference --prefix tinyclf_inf", "tinyclf.cnn", "tinyclf_inf");
    model("--embed-runtime --prefix emb", "tinyclf.cnn", "emb");
    model("--embed-runtime", "convs.cnn", "convs");
    check_write(strcat(strcpy((char[600]){ 0 }, dir), "/user.c"), user_c);
    ck_assert_int_eq(sh("cc -std=c99 -O1 -Wall -Wextra -Werror %s -Iruntime/include -I%s -o %s/user "
                        "%s/user.c %s/tinyclf.o %s/tinyclf_inf.o %s/emb.o %s/convs.o %s/libcnnrt.a -lm -lpthread",
                        SAN, dir, dir, dir, dir, dir, dir, dir, B), 0);
    ck_assert_int_eq(sh("%s/user > %s/user.txt", dir, dir), 0);
    ck_assert_int_eq(sh("grep -Eq '^[-+.e0-9]+ 1 0\\.[0-9]+$' %s/user.txt", dir), 0);
    /* the embedded copies carry their prefix; the linked runtime keeps its names */
    ck_assert_int_eq(sh("nm %s/user | grep -q ' T emb_cnnrt_conv_forward$'", dir), 0);
    ck_assert_int_eq(sh("nm %s/user | grep -q ' T convs_cnnrt_conv_forward$'", dir), 0);
    ck_assert_int_eq(sh("nm %s/user | grep -q ' T cnnrt_conv_forward$'", dir), 0);
}
END_TEST

static const char user_cpp[] =
    "#include <cstdio>\n#include <vector>\n"
    "#include \"cnnrt.h\"\n#include \"cnnrt_data.h\"\n#include \"cnnrt_train.h\"\n"
    "#include \"tinyclf.h\"\n#include \"emb.h\"\n"
    "int main()\n{\n"
    "    std::vector<float> x(TINYCLF_IN_SIZE, 0.5f);\n"
    "    tinyclf *m = tinyclf_new();\n    emb *e = emb_new();\n"
    "    tinyclf_init(m, 1);\n    emb_init(e, 1);\n    tinyclf_set_training(m, 0);\n"
    "    emb_set_training(e, 0);\n"
    "    const cnnrt_tensor *t;\n    int n = tinyclf_params(m, &t);\n"
    "    const float *p = tinyclf_forward(m, x.data(), 1), *q = emb_forward(e, x.data(), 1);\n"
    "    std::printf(\"%d %s %d\\n\", n, t[0].name, p[0] == q[0]);\n"
    "    tinyclf_free(m);\n    emb_free(e);\n    return 0;\n}\n";

START_TEST(cxx_user)
{
    if (sh("g++ --version > /dev/null 2>&1") != 0) {
        printf("test_link: no g++, C++ use not tested\n");
        return;
    }
    setup();
    model("", "tinyclf.cnn", "tinyclf");
    model("--embed-runtime --prefix emb", "tinyclf.cnn", "emb");
    char path[600];
    snprintf(path, sizeof path, "%s/user.cpp", dir);
    check_write(path, user_cpp);
    ck_assert_int_eq(sh("g++ -std=c++11 -O1 -Wall -Wextra -Werror %s -Iruntime/include -I%s -o %s/user "
                        "%s/user.cpp %s/tinyclf.o %s/emb.o %s/libcnnrt.a -lm -lpthread",
                        SAN, dir, dir, dir, dir, dir, B), 0);
    ck_assert_int_eq(sh("test \"$(%s/user)\" = '4 conv1.weight 1'", dir), 0);
}
END_TEST

START_TEST(dependency_files)
{
    setup();
    ck_assert_int_eq(sh("\"$CNNC\" -MD tests/models/tinyclf.cnn -o %s/a.c", dir), 0);
    ck_assert_int_eq(sh("printf '%%s\\n' '%s/a.c %s/a.h: tests/models/tinyclf.cnn' '' "
                        "'tests/models/tinyclf.cnn:' | cmp - %s/a.d", dir, dir, dir), 0);
    ck_assert_int_eq(sh("\"$CNNC\" -MD -MF %s/dot.d --emit=dot tests/models/tinyclf.cnn -o %s/g.dot", dir, dir), 0);
    ck_assert_int_eq(sh("head -n 1 %s/dot.d | grep -qx '%s/g.dot: tests/models/tinyclf.cnn'", dir, dir), 0);
    /* make reads it: the output is out of date once the .cnn is newer */
    ck_assert_int_eq(sh("cp tests/models/tinyclf.cnn %s/n.cnn && \"$CNNC\" -MD %s/n.cnn -o %s/n.c && "
                        "printf 'include %s/n.d\\n%s/n.c:\\n\\ttouch made\\n' > %s/mk", dir, dir, dir, dir, dir, dir), 0);
    ck_assert_int_eq(sh("make -s -q -f %s/mk %s/n.c", dir, dir), 0);
    ck_assert_int_eq(sh("sleep 1; touch %s/n.cnn; make -s -q -f %s/mk %s/n.c", dir, dir, dir), 1);
    /* -MF alone is a usage error */
    ck_assert_int_eq(sh("\"$CNNC\" -MF %s/x.d tests/models/tinyclf.cnn -o %s/x.c 2> %s/err", dir, dir, dir), 1);
    ck_assert_int_eq(sh("grep -q -- '-MF needs -MD' %s/err", dir), 0);
}
END_TEST

START_TEST(missing_directory_and_bad_prefix)
{
    setup();
    /* every output the same way: C, dump, dependency file; nothing is created */
    const char *cmds[] = {
        "tests/models/tinyclf.cnn -o %s/no/such/m.c",
        "--emit=dot tests/models/tinyclf.cnn -o %s/no/such/g.dot",
        "-MD -MF %s/no/such/m.d tests/models/tinyclf.cnn -o %s/m.c",
    };
    for (int i = 0; i < 3; i++) {
        char cmd[600];
        snprintf(cmd, sizeof cmd, cmds[i], dir, dir);
        ck_assert_int_eq(sh("\"$CNNC\" %s 2> %s/err", cmd, dir), 1);
        ck_assert_msg(sh("grep -q \"no such directory '%s/no/such' (cnnc does not create directories)\" %s/err",
                         dir, dir) == 0, "message for: %s", cmd);
        ck_assert_int_eq(sh("test ! -e %s/no", dir), 0);
    }
    ck_assert_int_eq(sh("\"$CNNC\" --prefix 9lives tests/models/tinyclf.cnn -o %s/p.c 2> %s/err", dir, dir), 1);
    ck_assert_int_eq(sh("grep -q \"prefix needs a C identifier, not '9lives'\" %s/err", dir), 0);
}
END_TEST

START_TEST(dot_graph)
{
    setup();
    ck_assert_int_eq(sh("\"$CNNC\" --emit=dot examples/lenet5.cnn -o %s/g.dot", dir), 0);
    /* no edge twice */
    ck_assert_int_eq(sh("test -z \"$(grep -- '->' %s/g.dot | sed 's/ \\[.*//' | sort | uniq -d)\"", dir), 0);
    /* every endpoint of an edge is declared with a label */
    ck_assert_int_eq(sh("for n in $(grep -- '->' %s/g.dot | sed 's/ \\[.*//; s/;//; s/->//'); do "
                        "grep -q \"^  $n \\[label=\\\"[^\\\"]\" %s/g.dot || { echo $n; exit 1; }; done", dir, dir), 0);
    ck_assert_int_eq(sh("grep -q 'dense + relu' %s/g.dot", dir), 0);
    ck_assert_int_eq(sh("grep -q 'label=\"target\\\\n\\[10\\]\"' %s/g.dot", dir), 0);
    ck_assert_int_eq(sh("grep -q -- '-> n[0-9]* \\[label=\"d\\.[a-z]' %s/g.dot", dir), 0);
    ck_assert_int_eq(sh("grep -q 'label=\"d\\.conv1: conv\\.grad' %s/g.dot", dir), 0);
}
END_TEST

int main(void)
{
    B = check_build();
    SAN = check_san();
    Suite *s = suite_create("link");
    TCase *tc = tcase_create("link");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, four_models_one_program);
    tcase_add_test(tc, cxx_user);
    tcase_add_test(tc, dependency_files);
    tcase_add_test(tc, missing_directory_and_bad_prefix);
    tcase_add_test(tc, dot_graph);
    suite_add_tcase(s, tc);
    return check_run(s, 0);
}
