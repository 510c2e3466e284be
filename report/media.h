// Images and videos on disk: PNG (libpng) and animated GIF (giflib, gray palette).
// Pixels are uint8, rows top-down; gray is [H, W], RGB is [H, W, 3].
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

struct GifFileType;  // giflib

namespace relmimic::report {

// channels: 1 (gray) or 3 (RGB). Written to <path>.tmp and renamed, so a crash leaves no
// half-written file behind.
void write_png(const std::string& path, const uint8_t* pixels, int height, int width, int channels);

struct Image {
  int height = 0, width = 0, channels = 0;
  std::vector<uint8_t> pixels;  // [H, W, C]
};
// Reads an 8-bit gray or RGB PNG (palette and 16-bit are converted, alpha dropped).
Image read_png(const std::string& path);

// n images [n, H, W, C] laid out on a grid of `cols` columns (row-major), separated by `gap`
// pixels of value `gap_value`. The result is [rows*H + (rows-1)*gap, cols*W + (cols-1)*gap, C].
Image tile_images(const uint8_t* images, int n, int height, int width, int channels, int cols,
                  int gap, uint8_t gap_value);

// Animated GIF89a with a 256-level gray palette, one frame at a time (nothing buffered but
// one row of the current frame). delay_cs: time per frame in 1/100 s; loop: 0 = forever. Written
// to <path>.tmp and renamed by close(); an error removes the temp file.
class GifWriter {
 public:
  GifWriter(const std::string& path, int height, int width, int delay_cs, int loop = 0);
  ~GifWriter();  // closes when close() was not called (errors are then swallowed)
  GifWriter(const GifWriter&) = delete;
  GifWriter& operator=(const GifWriter&) = delete;

  void add_frame(const uint8_t* gray);  // [H, W]
  void close();                         // writes the trailer and renames into place
  int frames() const { return frames_; }

 private:
  [[noreturn]] void fail(const std::string& why);  // drops the temp file, throws
  std::string path_, tmp_;
  FILE* f_ = nullptr;
  GifFileType* gif_ = nullptr;
  std::vector<uint8_t> row_;
  int height_, width_, delay_cs_, frames_ = 0;
};

// The whole video at once: frames [n, H, W].
void write_gif(const std::string& path, const uint8_t* frames, int n, int height, int width,
               int delay_cs, int loop = 0);

}  // namespace relmimic::report
