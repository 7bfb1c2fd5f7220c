/* stb.c — the one translation unit that compiles stb_image (Debian's
 * libstb-dev header, <stb/stb_image.h>).  The runtime uses its zlib decoder
 * for .gz data files (gzip.c) and, later, its PNG/JPEG/BMP readers for
 * image folders; the other formats are left out.  Nothing else belongs
 * here; other files include the header without the implementation.
 */
#define STB_IMAGE_IMPLEMENTATION
#define STBI_ONLY_PNG
#define STBI_ONLY_JPEG
#define STBI_ONLY_BMP
#include <stb/stb_image.h>
