/* stb.c — the one translation unit that compiles stb_image and
 * stb_image_write (Debian's libstb-dev headers, <stb/...>).  The runtime
 * uses stb_image's zlib decoder for .gz data files (gzip.c) and its PNG,
 * JPEG, BMP, TGA and GIF readers for image data (image.c); the other
 * formats (PSD, HDR, PIC, PNM) are left out.  stb_image_write writes the
 * PNGs of --dump-aug (dump.c).  Nothing else belongs here; other files
 * include the headers without the implementations.
 */
#define STB_IMAGE_IMPLEMENTATION
#define STBI_ONLY_PNG
#define STBI_ONLY_JPEG
#define STBI_ONLY_BMP
#define STBI_ONLY_TGA
#define STBI_ONLY_GIF
/* a corrupt header cannot make a decode ask for more than 32768^2 pixels */
#define STBI_MAX_DIMENSIONS (1 << 15)
#include <stb/stb_image.h>

#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb/stb_image_write.h>
