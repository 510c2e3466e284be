// PNG through libpng; GIF89a written here (header, gray palette, NETSCAPE loop block, one
// graphic-control + image block per frame, LZW data in 255-byte sub-blocks, trailer).
#include "env/media.h"

#include <png.h>

#include <algorithm>
#include <cerrno>
#include <csetjmp>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "kernels/common.h"

namespace relmimic::env {

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

// --- GIF -------------------------------------------------------------------------------------

std::vector<uint8_t> gif_lzw_encode(const uint8_t* indices, long n) {
  constexpr int kMinBits = 8;
  constexpr int kClear = 1 << kMinBits, kEoi = kClear + 1, kFirst = kClear + 2;
  // Like giflib, stop adding at 4095 and emit a clear code: decoders then never see a full table.
  constexpr int kMaxCode = 4095;
  std::vector<uint8_t> out;
  uint32_t acc = 0;  // bit accumulator, LSB first
  int nacc = 0, bits = kMinBits + 1, next = kFirst;
  auto emit = [&](int code) {
    acc |= uint32_t(code) << nacc;
    nacc += bits;
    while (nacc >= 8) {
      out.push_back(uint8_t(acc & 0xFF));
      acc >>= 8;
      nacc -= 8;
    }
  };
  // child[prefix * 256 + byte] = code of the string prefix+byte (0 = none); the codes made since
  // the last clear are remembered so a clear resets only their entries.
  std::vector<uint16_t> child(size_t(kMaxCode + 1) * 256, 0);
  std::vector<uint32_t> made;
  made.reserve(kMaxCode);
  auto clear_table = [&] {
    for (uint32_t slot : made) child[slot] = 0;
    made.clear();
    next = kFirst;
  };
  // Emits `code` then grows the code width the way a decoder does: a decoder that has read this
  // code holds `next` entries and widens when that reaches 2^bits.
  auto emit_and_widen = [&](int code) {
    emit(code);
    if (next >= (1 << bits) && bits < 12) ++bits;
  };

  emit(kClear);
  if (n > 0) {
    int prefix = indices[0];
    for (long i = 1; i < n; ++i) {
      const uint8_t c = indices[i];
      const uint32_t slot = uint32_t(prefix) * 256 + c;
      if (child[slot]) {
        prefix = child[slot];
        continue;
      }
      emit_and_widen(prefix);
      if (next < kMaxCode) {
        child[slot] = uint16_t(next++);
        made.push_back(slot);
      } else {
        emit(kClear);
        clear_table();
        bits = kMinBits + 1;
      }
      prefix = c;
    }
    emit_and_widen(prefix);
  }
  emit(kEoi);
  if (nacc > 0) out.push_back(uint8_t(acc & 0xFF));
  return out;
}

GifWriter::GifWriter(const std::string& path, int height, int width, int delay_cs, int loop)
    : path_(path), tmp_(path + ".tmp"), height_(height), width_(width), delay_cs_(delay_cs) {
  RM_CHECK(height > 0 && width > 0 && height <= 65535 && width <= 65535,
           "GifWriter: frame size must be in [1, 65535], got ", height, "x", width);
  RM_CHECK(delay_cs >= 0 && delay_cs <= 65535, "GifWriter: delay must be in [0, 65535] cs, got ",
           delay_cs);
  RM_CHECK(loop >= 0 && loop <= 65535, "GifWriter: loop count must be in [0, 65535], got ", loop);
  f_ = open_or_throw(tmp_, "wb");
  std::vector<uint8_t> h = {'G', 'I', 'F', '8', '9', 'a'};
  auto u16 = [&h](int v) {
    h.push_back(uint8_t(v & 0xFF));
    h.push_back(uint8_t(v >> 8));
  };
  u16(width);
  u16(height);
  // Global colour table present, 8-bit colour resolution, 2^(7+1) = 256 entries.
  h.insert(h.end(), {0xF7, 0, 0});
  for (int i = 0; i < 256; ++i) h.insert(h.end(), {uint8_t(i), uint8_t(i), uint8_t(i)});
  // NETSCAPE2.0 application extension: loop count.
  h.insert(h.end(), {0x21, 0xFF, 11, 'N', 'E', 'T', 'S', 'C', 'A', 'P', 'E', '2', '.', '0', 3, 1});
  u16(loop);
  h.push_back(0);
  put(h.data(), h.size());
}

GifWriter::~GifWriter() {
  if (!f_) return;
  try {
    close();
  } catch (const std::exception&) {
  }
}

void GifWriter::put(const void* p, size_t n) {
  RM_CHECK(f_, "GifWriter: '", path_, "' is already closed");
  RM_CHECK(std::fwrite(p, 1, n, f_) == n, "GifWriter: write error on '", tmp_, "'");
}

void GifWriter::add_frame(const uint8_t* gray) {
  std::vector<uint8_t> b;
  auto u16 = [&b](int v) {
    b.push_back(uint8_t(v & 0xFF));
    b.push_back(uint8_t(v >> 8));
  };
  // Graphic control extension: disposal 1 (keep), no transparency, the frame delay.
  b.insert(b.end(), {0x21, 0xF9, 4, 0x04});
  u16(delay_cs_);
  b.insert(b.end(), {0, 0});
  // Image descriptor: the whole canvas, no local colour table, not interlaced.
  b.push_back(0x2C);
  u16(0);
  u16(0);
  u16(width_);
  u16(height_);
  b.push_back(0);
  b.push_back(8);  // LZW minimum code size
  std::vector<uint8_t> lzw = gif_lzw_encode(gray, long(height_) * width_);
  for (size_t i = 0; i < lzw.size(); i += 255) {
    size_t len = std::min<size_t>(255, lzw.size() - i);
    b.push_back(uint8_t(len));
    b.insert(b.end(), lzw.begin() + long(i), lzw.begin() + long(i + len));
  }
  b.push_back(0);  // block terminator
  put(b.data(), b.size());
  ++frames_;
}

void GifWriter::close() {
  RM_CHECK(f_, "GifWriter: '", path_, "' is already closed");
  const uint8_t trailer = 0x3B;
  bool ok = std::fwrite(&trailer, 1, 1, f_) == 1;
  ok = (std::fclose(f_) == 0) && ok;
  f_ = nullptr;
  if (!ok) {
    std::remove(tmp_.c_str());
    RM_FAIL("GifWriter: write error on '", tmp_, "'");
  }
  rename_or_throw(tmp_, path_);
}

void write_gif(const std::string& path, const uint8_t* frames, int n, int height, int width,
               int delay_cs, int loop) {
  RM_CHECK(n > 0, "write_gif: need at least one frame, got ", n);
  GifWriter g(path, height, width, delay_cs, loop);
  for (int i = 0; i < n; ++i) g.add_frame(frames + size_t(i) * height * width);
  g.close();
}

}  // namespace relmimic::env
