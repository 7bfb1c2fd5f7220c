/* emit_main.c — the optional main() of `cnnc --main`: the model's
 * constants and functions handed to the runtime's trainer (cnnrt_main),
 * which implements `train`, `eval` and `predict`.  The wrappers exist only
 * to convert between the model's typed pointer and void *.
 */
#include <stdio.h>
#include "emit_main.h"
#include "emit_train.h"
#include "literal.h"

static const char *aug_names[] = {
    "CNNRT_AUG_FLIP", "CNNRT_AUG_CROP", "CNNRT_AUG_HSV", "CNNRT_AUG_MOSAIC", "CNNRT_AUG_MIXUP"
};

void emit_main(const Graph *g, int mpi, FILE *f)
{
    const char *m = g->name;
    int train = !g->inference && g->loss_node >= 0;
    Shape in = g->vals[g->input].shape;
    fprintf(f, "\n/* ---- the trainer: %s train|eval|predict (cnnc --main) ---- */\n", m);
    fprintf(f, "#ifndef CNNRT_TRAIN_H   /* else embedded above */\n#include \"cnnrt_train.h\"\n#endif\n\n");
    if (mpi)
        fprintf(f, "#include \"cnnrt_mpi.h\"    /* link libcnnrt_mpi.a, build with mpicc */\n\n");
    fprintf(f, "static void *w_new(void) { return %s_new(); }\n", m);
    fprintf(f, "static void w_free(void *m) { %s_free(m); }\n", m);
    fprintf(f, "static void w_init(void *m, uint64_t seed) { %s_init(m, seed); }\n", m);
    fprintf(f, "static const float *w_forward(void *m, const float *x, int n) { return %s_forward(m, x, n); }\n", m);
    fprintf(f, "static int w_params(void *m, const cnnrt_tensor **t) { return %s_params(m, t); }\n", m);
    fprintf(f, "static int w_profile(void *m, cnnrt_prof *p) { return %s_profile(m, p); }\n", m);
    if (g->noutputs && ir_detect_geom(g, &(cnnrt_yolox_geom){ 0 }))
        fprintf(f, "static int w_detect(void *m, const float *x, int n, float s, float u, cnnrt_det *o, int k)"
                   " { return %s_detect(m, x, n, s, u, o, k); }\n", m);
    if (train) {
        fprintf(f, "static void w_set_training(void *m, int on) { %s_set_training(m, on); }\n", m);
        fprintf(f, "static float w_backward(void *m, const float *t, int n) { return %s_backward(m, t, n); }\n", m);
        fprintf(f, "static void w_update(void *m) { %s_update(m); }\n", m);
        fprintf(f, "static int w_state(void *m, const cnnrt_tensor **t, long **step) { return %s_state(m, t, step); }\n", m);
        emit_train_main_wrappers(g, f);
        if (mpi)
            fprintf(f, "static void w_grads_hook(void *m, cnnrt_grads_fn fn, void *arg) { %s_grads_hook(m, fn, arg); }\n", m);
    }
    fprintf(f, "\nint main(int argc, char **argv)\n{\n");
    const TrainCfg *t = &g->train;
    if (t->naug) {
        fprintf(f, "    static const cnnrt_augment augment[] = {\n");
        for (int i = 0; i < t->naug; i++) {
            const Augment *a = &t->aug[i];
            fprintf(f, "        { %s, { ", aug_names[a->kind]);
            for (int k = 0; k < 4; k++) {
                fprintf(f, "%s", k ? ", " : "");
                emit_float(f, a->f[k]);
            }
            fprintf(f, " } },\n");
        }
        fprintf(f, "    };\n");
    }
    /* the runtime's name for the loss, for validation figures */
    const char *loss = !train ? "0" : t->loss == OP_cross_entropy ? "CNNRT_LOSS_XENT"
                     : t->loss == OP_bce ? "CNNRT_LOSS_BCE" : t->loss == OP_yolox ? "CNNRT_LOSS_YOLOX"
                     : "CNNRT_LOSS_MSE";
    fprintf(f, "    static const cnnrt_model model = {\n");
    fprintf(f, "        \"%s\", %d, %d, %d, %d, %ld, %ld,\n", m, g->batch, in.d[0],
            in.rank == 3 ? in.d[1] : 1, in.rank == 3 ? in.d[2] : 1, g->vals[g->input].size,
            g->vals[g->outputs[0]].size);
    fprintf(f, "        %s, %d, %lluULL, %s, %d,\n", loss, t->epochs, t->seed,
            t->naug ? "augment" : "NULL", t->naug);
    fprintf(f, "        w_new, w_free, w_init, %s, w_forward, %s, %s, w_params, %s",
            train ? "w_set_training" : "NULL", train ? "w_backward" : "NULL",
            train ? "w_update" : "NULL", train ? "w_state" : "NULL");
    emit_train_main_fields(g, f);
    fprintf(f, ",\n        ");
    emit_float(f, train ? t->lr : 0);        /* the train block's rate, for logs */
    /* the target the loss declares; a detector's classes and _detect */
    cnnrt_yolox_geom y;
    int det = ir_detect_geom(g, &y);
    fprintf(f, ",\n        %d, %ld, %d, %d, %s", g->target_kind,
            g->target >= 0 ? g->vals[g->target].size : 0L, det ? y.classes : 0,
            det ? y.max_boxes : 0, det ? "w_detect" : "NULL");
    fprintf(f, ", w_profile");
    if (mpi)
        fprintf(f, "\n    };\n    return cnnrt_mpi_main(&model, %s, argc, argv);\n}\n",
                train ? "w_grads_hook" : "NULL");
    else
        fprintf(f, "\n    };\n    return cnnrt_main(&model, argc, argv);\n}\n");
}
