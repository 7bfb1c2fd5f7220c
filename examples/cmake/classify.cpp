// classify.cpp — the C++ user program of examples/cmake: the generated
// headers are C with extern "C" guards, so C++ includes them directly.
// It runs the linked and the embedded build of one network, initialised
// from the same seed, on a synthetic picture and checks they agree.
#include <cmath>
#include <cstdio>
#include <memory>
#include <vector>
#include "lenet5.h"
#include "lenet5_emb.h"

int main()
{
    std::vector<float> image(LENET5_IN_SIZE, 0.0f);
    for (int y = 4; y < 24; y++)        // a vertical bar
        image[y * 28 + 13] = image[y * 28 + 14] = 1.0f;
    std::unique_ptr<lenet5, void (*)(lenet5 *)> a(lenet5_new(), lenet5_free);
    std::unique_ptr<lenet5_emb, void (*)(lenet5_emb *)> b(lenet5_emb_new(), lenet5_emb_free);
    if (!a || !b) {
        std::fprintf(stderr, "classify: out of memory\n");
        return 1;
    }
    lenet5_init(a.get(), 1);
    lenet5_emb_init(b.get(), 1);
    const float *p = lenet5_forward(a.get(), image.data(), 1);
    const float *q = lenet5_emb_forward(b.get(), image.data(), 1);
    int best = 0;
    double diff = 0;
    for (int k = 0; k < LENET5_OUT_SIZE; k++) {
        diff = std::fmax(diff, std::fabs(p[k] - q[k]));
        if (p[k] > p[best])
            best = k;
    }
    std::printf("class %d (p %.3f); linked and embedded differ by %g\n", best, p[best], diff);
    return diff < 1e-6 ? 0 : 1;
}
