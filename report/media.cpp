// PNG through libpng; GIF89a through giflib (gray palette, NETSCAPE loop block, one
// graphic-control extension + image per frame, streamed to a temp file renamed on close).
#include "report/media.h"

#include <gif_lib.h>
#include <png.h>

#include <algorithm>
#include <cerrno>
#include <csetjmp>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "kernels/common.h"

namespace relmimic::report {

namespace {

// libpng reports errors by longjmp; these callbacks keep the message for the exception.
struct PngErr {
  char msg[256] = "";
};
void png_error_fn(png_structp png, png_const_charp msg) {
  auto* e = static_cast<PngErr*>(png_get_error_ptr(png));
  std::snprintf(e->msg, sizeof e->msg, "%s", msg);
  png_longjmp(png, 1);
}
void png_warning_fn(png_structp, png_const_charp) {}

// Only plain C locals between setjmp and longjmp: returns false with err->msg set on failure.
bool png_write_file(FILE* f, const uint8_t* pixels, int h, int w, int channels, PngErr* err) {
  png_structp png =
      png_create_write_struct(PNG_LIBPNG_VER_STRING, err, png_error_fn, png_warning_fn);
  if (!png) return std::snprintf(err->msg, sizeof err->msg, "out of memory"), false;
  png_infop info = png_create_info_struct(png);
  if (!info || setjmp(png_jmpbuf(png))) {
    png_destroy_write_struct(&png, info ? &info : nullptr);
    return false;
  }
  png_init_io(png, f);
  png_set_IHDR(png, info, png_uint_32(w), png_uint_32(h), 8,
               channels == 1 ? PNG_COLOR_TYPE_GRAY : PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
               PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_write_info(png, info);
  for (int y = 0; y < h; ++y)
    png_write_row(png, const_cast<png_bytep>(pixels + size_t(y) * w * channels));
  png_write_end(png, nullptr);
  png_destroy_write_struct(&png, &info);
  return true;
}

// Reads into a malloc'd buffer (freed by the caller) to keep C++ objects out of the jump.
bool png_read_file(FILE* f, int* h, int* w, int* channels, uint8_t** out, PngErr* err) {
  *out = nullptr;
  png_structp png =
      png_create_read_struct(PNG_LIBPNG_VER_STRING, err, png_error_fn, png_warning_fn);
  if (!png) return std::snprintf(err->msg, sizeof err->msg, "out of memory"), false;
  png_infop info = png_create_info_struct(png);
  if (!info || setjmp(png_jmpbuf(png))) {
    std::free(*out);
    *out = nullptr;
    png_destroy_read_struct(&png, info ? &info : nullptr, nullptr);
    return false;
  }
  png_init_io(png, f);
  png_read_info(png, info);
  png_set_expand(png);  // palette -> RGB, low-bit gray -> 8 bit
  png_set_strip_16(png);
  png_set_strip_alpha(png);
  png_read_update_info(png, info);
  *h = int(png_get_image_height(png, info));
  *w = int(png_get_image_width(png, info));
  *channels = int(png_get_channels(png, info));
  const size_t row = png_get_rowbytes(png, info);
  *out = static_cast<uint8_t*>(std::malloc(row * size_t(*h)));
  if (!*out) png_error(png, "out of memory");
  for (int y = 0; y < *h; ++y) png_read_row(png, *out + size_t(y) * row, nullptr);
  png_read_end(png, nullptr);
  png_destroy_read_struct(&png, &info, nullptr);
  return true;
}

FILE* open_or_throw(const std::string& path, const char* mode) {
  if (mode[0] == 'w') {
    // Like the HDF5 writers: output folders are created on demand.
    const std::filesystem::path parent = std::filesystem::path(path).parent_path();
    std::error_code ec;
    if (!parent.empty()) std::filesystem::create_directories(parent, ec);
    RM_CHECK(!ec, "cannot create folder '", parent.string(), "': ", ec.message());
  }
  FILE* f = std::fopen(path.c_str(), mode);
  RM_CHECK(f, "cannot open '", path, "': ", std::strerror(errno));
  return f;
}

void rename_or_throw(const std::string& from, const std::string& to) {
  if (std::rename(from.c_str(), to.c_str()) != 0) {
    int e = errno;
    std::remove(from.c_str());
    RM_FAIL("cannot rename '", from, "' to '", to, "': ", std::strerror(e));
  }
}

}  // namespace

void write_png(const std::string& path, const uint8_t* pixels, int height, int width,
               int channels) {
  RM_CHECK(height > 0 && width > 0, "write_png: bad image size ", height, "x", width);
  RM_CHECK(channels == 1 || channels == 3, "write_png: channels must be 1 or 3, got ", channels);
  const std::string tmp = path + ".tmp";
  FILE* f = open_or_throw(tmp, "wb");
  PngErr err;
  bool ok = png_write_file(f, pixels, height, width, channels, &err);
  ok = (std::fclose(f) == 0) && ok;
  if (!ok) {
    std::remove(tmp.c_str());
    RM_FAIL("write_png '", path, "': ", err.msg[0] ? err.msg : "write error");
  }
  rename_or_throw(tmp, path);
}

Image read_png(const std::string& path) {
  FILE* f = open_or_throw(path, "rb");
  uint8_t sig[8] = {};
  size_t got = std::fread(sig, 1, 8, f);
  if (got != 8 || png_sig_cmp(sig, 0, 8) != 0) {
    std::fclose(f);
    RM_FAIL("read_png: '", path, "' is not a PNG file");
  }
  std::rewind(f);
  Image img;
  uint8_t* buf = nullptr;
  PngErr err;
  bool ok = png_read_file(f, &img.height, &img.width, &img.channels, &buf, &err);
  std::fclose(f);
  RM_CHECK(ok, "read_png '", path, "': ", err.msg);
  img.pixels.assign(buf, buf + size_t(img.height) * img.width * img.channels);
  std::free(buf);
  return img;
}

Image tile_images(const uint8_t* images, int n, int height, int width, int channels, int cols,
                  int gap, uint8_t gap_value) {
  RM_CHECK(n > 0 && height > 0 && width > 0 && channels > 0 && cols > 0 && gap >= 0,
           "tile_images: bad arguments n=", n, " size=", height, "x", width, "x", channels,
           " cols=", cols, " gap=", gap);
  cols = std::min(cols, n);
  const int rows = (n + cols - 1) / cols;
  Image out;
  out.channels = channels;
  out.height = rows * height + (rows - 1) * gap;
  out.width = cols * width + (cols - 1) * gap;
  out.pixels.assign(size_t(out.height) * out.width * channels, gap_value);
  const size_t row_bytes = size_t(width) * channels;
  for (int i = 0; i < n; ++i) {
    const int y0 = (i / cols) * (height + gap), x0 = (i % cols) * (width + gap);
    const uint8_t* src = images + size_t(i) * height * row_bytes;
    for (int y = 0; y < height; ++y)
      std::memcpy(&out.pixels[(size_t(y0 + y) * out.width + x0) * channels],
                  src + size_t(y) * row_bytes, row_bytes);
  }
  return out;
}

// --- GIF (giflib) ----------------------------------------------------------------------------

namespace {

// giflib writes through this callback into the writer's temp file.
int gif_write_fn(GifFileType* gif, const GifByteType* bytes, int n) {
  return int(std::fwrite(bytes, 1, size_t(n), static_cast<FILE*>(gif->UserData)));
}

const char* gif_error_text(int code) {
  const char* s = GifErrorString(code);
  return s ? s : "unknown giflib error";
}

}  // namespace

GifWriter::GifWriter(const std::string& path, int height, int width, int delay_cs, int loop)
    : path_(path), tmp_(path + ".tmp"), height_(height), width_(width), delay_cs_(delay_cs) {
  RM_CHECK(height > 0 && width > 0 && height <= 65535 && width <= 65535,
           "GifWriter: frame size must be in [1, 65535], got ", height, "x", width);
  RM_CHECK(delay_cs >= 0 && delay_cs <= 65535, "GifWriter: delay must be in [0, 65535] cs, got ",
           delay_cs);
  RM_CHECK(loop >= 0 && loop <= 65535, "GifWriter: loop count must be in [0, 65535], got ", loop);
  f_ = open_or_throw(tmp_, "wb");
  int err = 0;
  gif_ = EGifOpen(f_, gif_write_fn, &err);
  if (!gif_) fail(gif_error_text(err));
  EGifSetGifVersion(gif_, true);  // GIF89a: the loop block and the frame delays need it
  GifColorType gray[256];
  for (int i = 0; i < 256; ++i) gray[i] = {GifByteType(i), GifByteType(i), GifByteType(i)};
  ColorMapObject* palette = GifMakeMapObject(256, gray);
  // Global colour table of 256 entries, 8-bit colour resolution, background index 0.
  bool ok = palette && EGifPutScreenDesc(gif_, width, height, 8, 0, palette) == GIF_OK;
  GifFreeMapObject(palette);
  // NETSCAPE2.0 application extension: sub-block 1 holds the loop count.
  const GifByteType loop_block[3] = {1, GifByteType(loop & 0xFF), GifByteType(loop >> 8)};
  ok = ok && EGifPutExtensionLeader(gif_, APPLICATION_EXT_FUNC_CODE) == GIF_OK &&
       EGifPutExtensionBlock(gif_, 11, "NETSCAPE2.0") == GIF_OK &&
       EGifPutExtensionBlock(gif_, 3, loop_block) == GIF_OK &&
       EGifPutExtensionTrailer(gif_) == GIF_OK && !std::ferror(f_);
  if (!ok) fail(gif_error_text(gif_->Error));
  row_.resize(size_t(width));
}

GifWriter::~GifWriter() {
  if (!gif_) return;
  try {
    close();
  } catch (const std::exception&) {
  }
}

void GifWriter::fail(const std::string& why) {
  if (gif_) EGifCloseFile(gif_, nullptr);
  gif_ = nullptr;
  if (f_) std::fclose(f_);
  f_ = nullptr;
  std::remove(tmp_.c_str());
  RM_FAIL("GifWriter: cannot write '", path_, "': ", why);
}

void GifWriter::add_frame(const uint8_t* gray) {
  RM_CHECK(gif_, "GifWriter: '", path_, "' is already closed");
  // Graphic control extension: disposal 1 (keep), no transparency, the frame delay.
  GraphicsControlBlock gcb{};
  gcb.DisposalMode = DISPOSE_DO_NOT;
  gcb.DelayTime = delay_cs_;
  gcb.TransparentColor = NO_TRANSPARENT_COLOR;
  GifByteType ext[4];
  const int ext_len = int(EGifGCBToExtension(&gcb, ext));
  // Image descriptor: the whole canvas, no local colour table, not interlaced.
  bool ok = EGifPutExtension(gif_, GRAPHICS_EXT_FUNC_CODE, ext_len, ext) == GIF_OK &&
            EGifPutImageDesc(gif_, 0, 0, width_, height_, false, nullptr) == GIF_OK;
  // giflib masks the pixels of the line it is given in place: hand it a copy.
  for (int y = 0; ok && y < height_; ++y) {
    std::copy_n(gray + size_t(y) * size_t(width_), width_, row_.begin());
    ok = EGifPutLine(gif_, row_.data(), width_) == GIF_OK;
  }
  if (!ok || std::ferror(f_))
    fail("frame " + std::to_string(frames_) + ": " +
         (ok ? std::string("write error") : gif_error_text(gif_->Error)));
  ++frames_;
}

void GifWriter::close() {
  RM_CHECK(gif_, "GifWriter: '", path_, "' is already closed");
  int err = 0;
  const bool closed = EGifCloseFile(gif_, &err) == GIF_OK;  // the trailer; frees gif_
  gif_ = nullptr;
  if (!closed) fail(gif_error_text(err));
  const bool ok = !std::ferror(f_);
  const bool shut = std::fclose(f_) == 0;
  f_ = nullptr;
  if (!ok || !shut) fail("write error on '" + tmp_ + "'");
  rename_or_throw(tmp_, path_);
}

void write_gif(const std::string& path, const uint8_t* frames, int n, int height, int width,
               int delay_cs, int loop) {
  RM_CHECK(n > 0, "write_gif: need at least one frame, got ", n);
  GifWriter g(path, height, width, delay_cs, loop);
  for (int i = 0; i < n; ++i) g.add_frame(frames + size_t(i) * height * width);
  g.close();
}

}  // namespace relmimic::report
