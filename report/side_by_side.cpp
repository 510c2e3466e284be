#include "report/side_by_side.h"

#include <algorithm>

#include "kernels/common.h"
#include "report/plot.h"

namespace relmimic::report {

GrayVideo side_by_side(const uint8_t* left, int nl, const uint8_t* right, int nr, int size,
                       const std::string& left_caption, const std::string& right_caption) {
  RM_CHECK(nl >= 1 && nr >= 1, "side_by_side: both videos need frames (got ", nl, " and ", nr, ")");
  RM_CHECK(size >= 8, "side_by_side: frame size must be >= 8, got ", size);
  constexpr int kGap = 4;
  // Scale 2 on large frames when both captions fit; otherwise scale 1, cut to the half.
  auto fits = [&](const std::string& c, int sc) {
    return Canvas::text_width(c, sc) + 4 * sc <= size;
  };
  const int scale = size >= 96 && fits(left_caption, 2) && fits(right_caption, 2) ? 2 : 1,
            pad = 2 * scale;
  const int caption_h = Canvas::text_height(scale) + 2 * pad;
  GrayVideo v;
  v.n = std::max(nl, nr);
  v.height = caption_h + size;
  v.width = 2 * size + kGap;
  const size_t frame = size_t(v.height) * size_t(v.width), hw = size_t(size) * size;

  // The caption strip is the same on every frame: draw it once.
  Canvas header(v.width, caption_h, Rgb{0, 0, 0});
  const std::string* captions[2] = {&left_caption, &right_caption};
  for (int side = 0; side < 2; ++side) {
    std::string text = *captions[side];
    const int max_chars = std::max(1, (size - 2 * pad + scale) / ((kGlyphW + 1) * scale));
    if (int(text.size()) > max_chars) text.resize(size_t(max_chars));
    header.text(side * (size + kGap) + pad, pad, text, Rgb{255, 255, 255}, scale);
  }

  v.frames.assign(size_t(v.n) * frame, 0);
  for (int i = 0; i < v.n; ++i) {
    uint8_t* f = v.frames.data() + size_t(i) * frame;
    for (int y = 0; y < caption_h; ++y)
      for (int x = 0; x < v.width; ++x)
        f[size_t(y) * size_t(v.width) + size_t(x)] = header.at(x, y).r;
    const uint8_t* src[2] = {left + size_t(std::min(i, nl - 1)) * hw,
                             right + size_t(std::min(i, nr - 1)) * hw};
    for (int side = 0; side < 2; ++side)
      for (int y = 0; y < size; ++y)
        std::copy_n(src[side] + size_t(y) * size_t(size), size,
                    f + size_t(caption_h + y) * size_t(v.width) + size_t(side * (size + kGap)));
  }
  return v;
}

}  // namespace relmimic::report
