/* onnx_run.c — runs a model cnnc generated from an imported ONNX file on
 * raw float input, for the ONNX tests.  Built as
 *
 *   cnnc --inference --batch N name.cnn -o name.c
 *   cc -DMODEL=name -DMODEL_UC=NAME '-DMODEL_H="name.h"' onnx_run.c name.c libcnnrt.a -lm
 *   ./prog WEIGHTS.cnnw IN.f32 N OUT.f32 SIZE...
 *
 * WEIGHTS "-" keeps the default initialisation of _new.
 * IN.f32 holds N samples (N <= BATCH) as floats; OUT.f32 gets the outputs
 * of the forward pass in order, output i as [N][SIZE i].  Exit 1 with a
 * message on any failure.  It compares nothing: the test does.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include MODEL_H

#define CAT_(a, b) a##_##b
#define CAT(a, b) CAT_(a, b)
#define F(x) CAT(MODEL, x)

static void die(const char *what)
{
    fprintf(stderr, "onnx_run: %s\n", what);
    exit(1);
}

int main(int argc, char **argv)
{
    if (argc < 6)
        die("usage: prog WEIGHTS IN N OUT SIZE...");
    int n = atoi(argv[3]);
    MODEL *m = F(new)();
    if (!m || n < 1)
        die("no model, or no samples");
    if (strcmp(argv[1], "-") && F(load)(m, argv[1]))
        die("cannot load the weights");
    FILE *f = fopen(argv[2], "rb");
    long in = (long)n * CAT(MODEL_UC, IN_SIZE);
    float *x = malloc(sizeof *x * (size_t)in);
    if (!f || !x || fread(x, sizeof *x, (size_t)in, f) != (size_t)in)
        die("cannot read the input");
    fclose(f);
    F(forward)(m, x, n);
    FILE *o = fopen(argv[4], "wb");
    if (!o)
        die("cannot write the output");
    for (int i = 0; i < argc - 5 && i < CAT(MODEL_UC, NOUTPUTS); i++)
        fwrite(F(output)(m, i), sizeof(float), (size_t)n * (size_t)atol(argv[5 + i]), o);
    if (fclose(o))
        die("cannot write the output");
    free(x);
    F(free)(m);
    return 0;
}
