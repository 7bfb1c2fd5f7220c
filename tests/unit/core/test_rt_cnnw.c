/* test_rt_cnnw.c — .cnnw files (runtime/core/cnnw.c): the byte layout, round
 * trips with and without optimizer state, and every way a load must refuse
 * a file (truncated anywhere, any byte flipped, another model's file) while
 * leaving the destination tensors untouched; saves that fail must set errno
 * and leave no file behind.
 */
#include "cnnrt.h"

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "check_util.h"

static char dir[64];

static void make_dir(void)
{
    snprintf(dir, sizeof dir, "/tmp/cnnrt_cnnw_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
}

/* removes the directory's files (the tests make no subdirectories except
 * `adir`, removed by name) and the directory */
static void remove_dir(void)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    char path[512];
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (remove(path) != 0)
            rmdir(path);
    }
    closedir(d);
    rmdir(dir);
}

static const char *in_dir(const char *name)
{
    static char buf[4][512];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", dir, name);
    return buf[k];
}

/* ---- a small model: 4 parameters (one scalar) and 2 state tensors ---- */
#define NP 5
#define NS 2
typedef struct {
    float w1[2 * 1 * 3 * 3], b1[2], w2[3 * 9], b2[3], scale[1];  /* fc_in <= 9 */
    float s1[18], s2[24];
    cnnrt_tensor p[NP], s[NS];
} Model;

static void model_make(Model *m, float fill, int fc_in)
{
    memset(m, 0, sizeof *m);
    float *bufs[] = { m->w1, m->b1, m->w2, m->b2, m->scale, m->s1, m->s2 };
    long sizes[] = { 18, 2, 3L * fc_in, 3, 1, 18, 24 };
    for (int k = 0; k < 7; k++)
        for (long i = 0; i < sizes[k]; i++)
            bufs[k][i] = fill == 0 ? 0.0f : fill * (float)(k + 1) + 0.001f * (float)i;
    cnnrt_tensor p[NP] = {
        { "conv1.weight", 4, {2, 1, 3, 3}, 18, m->w1, NULL },
        { "conv1.bias", 1, {2, 0, 0, 0}, 2, m->b1, NULL },
        { "fc.weight", 2, {3, fc_in, 0, 0}, 3L * fc_in, m->w2, NULL },
        { "fc.bias", 1, {3, 0, 0, 0}, 3, m->b2, NULL },
        { "temperature", 0, {0, 0, 0, 0}, 1, m->scale, NULL },
    };
    cnnrt_tensor s[NS] = {
        { "adam.s.conv1.weight", 4, {2, 1, 3, 3}, 18, m->s1, NULL },
        { "adam.s.fc.weight", 2, {3, 8, 0, 0}, 24, m->s2, NULL },
    };
    memcpy(m->p, p, sizeof p);
    memcpy(m->s, s, sizeof s);
}

/* every float of the model, for comparing before and after */
static int model_same(const Model *a, const Model *b)
{
    return !memcmp(a->w1, b->w1, sizeof a->w1) && !memcmp(a->b1, b->b1, sizeof a->b1)
        && !memcmp(a->w2, b->w2, sizeof a->w2) && !memcmp(a->b2, b->b2, sizeof a->b2)
        && !memcmp(a->scale, b->scale, sizeof a->scale)
        && !memcmp(a->s1, b->s1, sizeof a->s1) && !memcmp(a->s2, b->s2, sizeof a->s2);
}

static unsigned char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    unsigned char *buf = malloc(1 << 16);
    *len = fread(buf, 1, 1 << 16, f);
    fclose(f);
    return buf;
}

static void spit(const char *path, const void *p, size_t len)
{
    FILE *f = fopen(path, "wb");
    ck_assert(f != NULL);
    ck_assert_uint_eq(fwrite(p, 1, len, f), len);
    fclose(f);
}

static uint32_t le32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* a saved checkpoint of the reference model, read back into memory */
static unsigned char *checkpoint(size_t *len)
{
    Model m;
    model_make(&m, 1, 8);
    ck_assert_int_eq(cnnrt_save(in_dir("ref.cnnw"), m.p, NP, m.s, NS, 17), 0);
    return slurp(in_dir("ref.cnnw"), len);
}

START_TEST(crc32_check_value)
{
    ck_assert_uint_eq(cnnrt_crc32(0, "123456789", 9), 0xCBF43926u);
    uint32_t c = cnnrt_crc32(0, "1234", 4);
    ck_assert_uint_eq(cnnrt_crc32(c, "56789", 5), 0xCBF43926u);
    ck_assert_uint_eq(cnnrt_crc32(0, "", 0), 0);
}
END_TEST

START_TEST(layout_is_as_specified)
{
    size_t len;
    unsigned char *f = checkpoint(&len);
    /* header + params + state count + state + step + crc */
    size_t params = 0, state = 0;
    const char *pn[NP] = { "conv1.weight", "conv1.bias", "fc.weight", "fc.bias", "temperature" };
    int prank[NP] = { 4, 1, 2, 1, 0 }, psize[NP] = { 18, 2, 24, 3, 1 };
    for (int k = 0; k < NP; k++)
        params += 4 + strlen(pn[k]) + 4 + 4 * prank[k] + 4 * psize[k];
    state = (4 + 19 + 4 + 16 + 72) + (4 + 16 + 4 + 8 + 96);
    ck_assert_uint_eq(len, 12 + params + 4 + state + 8 + 4);
    ck_assert_mem_eq(f, "CNNW", 4);
    ck_assert_uint_eq(le32(f + 4), 1);
    ck_assert_uint_eq(le32(f + 8), NP);
    ck_assert_uint_eq(le32(f + 12), 12);
    ck_assert_mem_eq(f + 16, "conv1.weight", 12);
    ck_assert_uint_eq(le32(f + 28), 4);
    ck_assert_uint_eq(le32(f + 32), 2);
    ck_assert_uint_eq(le32(f + 44), 3);
    float first;
    uint32_t bits = le32(f + 48);
    memcpy(&first, &bits, 4);
    ck_assert_float_eq(first, 1.0f);
    ck_assert_uint_eq(le32(f + 12 + params), NS);
    ck_assert_uint_eq(le32(f + len - 12), 17);     /* step, low word */
    ck_assert_uint_eq(le32(f + len - 8), 0);
    ck_assert_uint_eq(le32(f + len - 4), cnnrt_crc32(0, f, len - 4));
    ck_assert_int_ne(access(in_dir("ref.cnnw.tmp"), F_OK), 0);
    free(f);
}
END_TEST

START_TEST(round_trip)
{
    Model a, b;
    model_make(&a, 1, 8);
    model_make(&b, 0, 8);
    char err[256];
    long step = -1;
    ck_assert_int_eq(cnnrt_save(in_dir("a.cnnw"), a.p, NP, a.s, NS, 123456789012L), 0);
    ck_assert_int_eq(cnnrt_load(in_dir("a.cnnw"), b.p, NP, b.s, NS, &step, err, sizeof err), 0);
    ck_assert_msg(model_same(&a, &b), "loaded tensors differ");
    ck_assert_int_eq(step, 123456789012L);

    /* a checkpoint loads as a plain parameter file; the state is skipped */
    model_make(&b, 0, 8);
    step = -1;
    ck_assert_int_eq(cnnrt_load(in_dir("a.cnnw"), b.p, NP, NULL, 0, &step, err, sizeof err), 0);
    ck_assert_int_eq(memcmp(a.w2, b.w2, sizeof a.w2), 0);
    ck_assert_float_eq(b.s1[0], 0);
    ck_assert_int_eq(step, 123456789012L);

    /* a parameter file loaded with state wanted: params load, state stays,
     * step 0 */
    ck_assert_int_eq(cnnrt_save(in_dir("p.cnnw"), a.p, NP, NULL, 0, 99), 0);
    model_make(&b, 0, 8);
    b.s1[3] = 42;
    ck_assert_int_eq(cnnrt_load(in_dir("p.cnnw"), b.p, NP, b.s, NS, &step, err, sizeof err), 0);
    ck_assert_int_eq(step, 0);
    ck_assert_float_eq(b.s1[3], 42);
    ck_assert_int_eq(memcmp(a.w1, b.w1, sizeof a.w1), 0);
    ck_assert_int_eq(cnnrt_load(in_dir("p.cnnw"), b.p, NP, NULL, 0, NULL, err, sizeof err), 0);

    /* saving over an existing file replaces it */
    model_make(&a, 2, 8);
    ck_assert_int_eq(cnnrt_save(in_dir("a.cnnw"), a.p, NP, a.s, NS, 5), 0);
    ck_assert_int_eq(cnnrt_load(in_dir("a.cnnw"), b.p, NP, b.s, NS, &step, err, sizeof err), 0);
    ck_assert(model_same(&a, &b));
    ck_assert_int_eq(step, 5);
}
END_TEST

/* loads `bytes` as a file and expects a refusal that leaves the model as it
 * was; returns the message */
static const char *refused(const void *bytes, size_t len)
{
    static char err[512];
    spit(in_dir("bad.cnnw"), bytes, len);
    Model m, before;
    model_make(&m, 3, 8);
    model_make(&before, 3, 8);
    long step = -7;
    err[0] = 0;
    errno = 0;
    int rc = cnnrt_load(in_dir("bad.cnnw"), m.p, NP, m.s, NS, &step, err, sizeof err);
    ck_assert_msg(rc == -1, "a bad file (%zu bytes) loaded", len);
    ck_assert_int_ne(errno, 0);
    ck_assert_msg(model_same(&m, &before), "a refused load changed the model (%s)", err);
    ck_assert_int_eq(step, -7);
    ck_assert_msg(strncmp(err, "'", 1) == 0 && strstr(err, "bad.cnnw': "),
                  "message does not name the file: %s", err);
    return err;
}

START_TEST(truncated_anywhere)
{
    size_t len;
    unsigned char *f = checkpoint(&len);
    /* at every length: refused, and called truncated (or, at the one cut
     * that leaves exactly 4 bytes after a section, a CRC mismatch) */
    for (size_t cut = 1; cut < len; cut++) {
        const char *msg = refused(f, cut);
        ck_assert_msg(strstr(msg, "truncated") || strstr(msg, "CRC mismatch"),
                      "cut at %zu: %s", cut, msg);
    }
    static const size_t named[] = { 3, 8, 11, 14, 30, 100, 200 };
    for (int i = 0; i < 7; i++)
        ck_assert_msg(strstr(refused(f, named[i]), "truncated"), "cut at %zu", named[i]);
    ck_assert_msg(strstr(refused(f, len - 1), "truncated (the file ends inside the CRC)"),
                  "%s", refused(f, len - 1));
    ck_assert_msg(strstr(refused(f, 60), "truncated (the file ends inside tensor 1 of 5)"),
                  "%s", refused(f, 60));
    ck_assert_str_eq(refused(f, 0) + strlen(in_dir("bad.cnnw")) + 4,
                     "the file is empty: not a .cnnw file");
    free(f);
}
END_TEST

START_TEST(flipped_bytes)
{
    size_t len;
    unsigned char *f = checkpoint(&len);
    for (size_t i = 0; i < len; i++) {
        f[i] ^= 0x55;
        refused(f, len);
        f[i] ^= 0x55;
    }
    f[100] ^= 1;    /* inside conv1.weight's data */
    ck_assert_msg(strstr(refused(f, len), "CRC mismatch: the file is corrupt"), "%s",
                  refused(f, len));
    f[100] ^= 1;
    f[len - 1] ^= 0x80;   /* the CRC itself */
    ck_assert(strstr(refused(f, len), "CRC mismatch: the file is corrupt"));
    f[len - 1] ^= 0x80;
    f[1] = 'M';
    ck_assert(strstr(refused(f, len), "': not a .cnnw file"));
    ck_assert(strstr(refused("PK\3\4 a zip file", 16), "': not a .cnnw file"));
    free(f);
}
END_TEST

/* a file that is structurally fine but says version 2 */
START_TEST(other_version)
{
    size_t len;
    unsigned char *f = checkpoint(&len);
    f[4] = 2;
    uint32_t crc = cnnrt_crc32(0, f, len - 4);
    for (int i = 0; i < 4; i++)
        f[len - 4 + i] = (unsigned char)(crc >> 8 * i);
    ck_assert(strstr(refused(f, len), "format version 2; this runtime reads version 1"));
    free(f);
}
END_TEST

/* loads the reference checkpoint into `m`, expecting refusal with `want`
 * after the "'path': " prefix */
static void expect_mismatch(Model *m, int np, int ns, const char *want)
{
    Model before = *m;
    char err[512], full[1024];
    long step = -3;
    ck_assert_int_eq(cnnrt_load(in_dir("ref.cnnw"), m->p, np, ns ? m->s : NULL, ns,
                                &step, err, sizeof err), -1);
    snprintf(full, sizeof full, "'%s': %s", in_dir("ref.cnnw"), want);
    ck_assert_str_eq(err, full);
    ck_assert(model_same(m, &before));
    ck_assert_int_eq(step, -3);
}

START_TEST(file_of_another_model)
{
    size_t len;
    free(checkpoint(&len));
    Model m;
    model_make(&m, 0, 9);               /* fc.weight [3,9] instead of [3,8] */
    expect_mismatch(&m, NP, NS, "tensor 3 is 'fc.weight' [3,8] in the file but the model "
                    "has 'fc.weight' [3,9]");
    model_make(&m, 0, 8);
    m.p[1].name = "conv1.b";
    expect_mismatch(&m, NP, NS, "tensor 2 is 'conv1.bias' [2] in the file but the model "
                    "has 'conv1.b' [2]");
    model_make(&m, 0, 8);
    expect_mismatch(&m, NP - 1, NS, "the file has 5 tensors, the model 4: tensor 5 "
                    "'temperature' [] in the file is not in the model");
    expect_mismatch(&m, NP, 1, "the file has 2 state tensors, the model 1: state tensor 2 "
                    "'adam.s.fc.weight' [3,8] in the file is not in the model");
    /* the model has one more tensor than the file */
    Model big;
    model_make(&big, 0, 8);
    cnnrt_save(in_dir("ref.cnnw"), big.p, NP - 1, big.s, NS, 1);
    expect_mismatch(&big, NP, NS, "the file has 4 tensors, the model 5: the model's tensor 5 "
                    "'temperature' [] is not in the file");
    m.s[1].shape[1] = 4, m.s[1].size = 12;
    expect_mismatch(&m, NP - 1, NS, "state tensor 2 is 'adam.s.fc.weight' [3,8] in the file "
                    "but the model has 'adam.s.fc.weight' [3,4]");
}
END_TEST

START_TEST(missing_file)
{
    Model m;
    model_make(&m, 0, 8);
    char err[512], want[600];
    errno = 0;
    ck_assert_int_eq(cnnrt_load(in_dir("nope.cnnw"), m.p, NP, NULL, 0, NULL, err, sizeof err), -1);
    ck_assert_int_eq(errno, ENOENT);
    snprintf(want, sizeof want, "'%s': No such file or directory", in_dir("nope.cnnw"));
    ck_assert_str_eq(err, want);
}
END_TEST

/* the save fails with errno set, and neither PATH nor PATH.tmp is left */
static void expect_save_fails(const char *path, int want_errno)
{
    Model m;
    model_make(&m, 1, 8);
    char tmp[600];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    errno = 0;
    ck_assert_int_eq(cnnrt_save(path, m.p, NP, m.s, NS, 1), -1);
    ck_assert_msg(errno == want_errno, "%s: errno %d (%s), want %d", path, errno,
                  strerror(errno), want_errno);
    ck_assert_msg(access(tmp, F_OK) != 0, "%s left behind", tmp);
}

START_TEST(unwritable_paths)
{
    expect_save_fails("/nonexistent_cnnrt_dir/x.cnnw", ENOENT);
    spit(in_dir("plain"), "x", 1);
    expect_save_fails(in_dir("plain/x.cnnw"), ENOTDIR);
    /* PATH.tmp is written, the rename onto a directory fails: the temporary
     * file must go */
    ck_assert_int_eq(mkdir(in_dir("adir"), 0755), 0);
    expect_save_fails(in_dir("adir"), EISDIR);
    struct stat st;
    ck_assert_int_eq(stat(in_dir("adir"), &st), 0);
    ck_assert(S_ISDIR(st.st_mode));
    rmdir(in_dir("adir"));
    /* a tensor the format cannot hold */
    Model m;
    model_make(&m, 1, 8);
    m.p[0].size = 5;    /* disagrees with its shape */
    errno = 0;
    ck_assert_int_eq(cnnrt_save(in_dir("bad.cnnw"), m.p, NP, NULL, 0, 0), -1);
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_int_ne(access(in_dir("bad.cnnw"), F_OK), 0);
    ck_assert_int_ne(access(in_dir("bad.cnnw.tmp"), F_OK), 0);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("rt_cnnw");
    TCase *t = tcase_create("cnnw");
    tcase_add_checked_fixture(t, make_dir, remove_dir);
    tcase_set_timeout(t, 60);
    tcase_add_test(t, crc32_check_value);
    tcase_add_test(t, layout_is_as_specified);
    tcase_add_test(t, round_trip);
    tcase_add_test(t, truncated_anywhere);
    tcase_add_test(t, flipped_bytes);
    tcase_add_test(t, other_version);
    tcase_add_test(t, file_of_another_model);
    tcase_add_test(t, missing_file);
    tcase_add_test(t, unwritable_paths);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    return check_run(suite(), 1);
}
