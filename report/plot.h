// Line charts rasterised in-process (no plotting library): an RGB canvas with anti-aliased lines,
// translucent fills and an embedded 5x7 bitmap font, and a chart (title, axes with numbered
// ticks, a legend, lines with optional shaded envelopes) drawn on it and written as PNG.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace relmimic::report {

struct Rgb {
  uint8_t r = 0, g = 0, b = 0;
  bool operator==(const Rgb&) const = default;
};

// The 5x7 font: glyph rows top-down, bit 4 the leftmost pixel; printable ASCII (32..126), other
// bytes draw as '?'.
inline constexpr int kGlyphW = 5, kGlyphH = 7;
const uint8_t* glyph(char c);

class Canvas {
 public:
  Canvas(int width, int height, Rgb background);
  int width() const { return w_; }
  int height() const { return h_; }
  Rgb at(int x, int y) const;
  const std::vector<uint8_t>& pixels() const { return px_; }  // [H, W, 3]

  // Mixes `c` into pixel (x, y) with opacity alpha in [0, 1]; outside the canvas: nothing.
  void blend(int x, int y, Rgb c, double alpha);
  // Pixels [x0, x1) x [y0, y1).
  void fill_rect(int x0, int y0, int x1, int y1, Rgb c, double alpha = 1.0);
  // A segment `width` pixels thick, anti-aliased by coverage: alpha = clamp(width/2 + 1/2 - d)
  // for a pixel centre at distance d from the segment.
  void line(double x0, double y0, double x1, double y1, Rgb c, double width = 1.0);
  // Text with its top-left corner at (x, y), each font pixel a scale x scale block, one blank
  // column between glyphs. vertical: rotated 90 degrees counter-clockwise, reading bottom-up
  // from (x, y) = bottom-left corner.
  void text(int x, int y, std::string_view s, Rgb c, int scale = 1, bool vertical = false);
  static int text_width(std::string_view s, int scale = 1) {
    return s.empty() ? 0 : int(s.size()) * (kGlyphW + 1) * scale - scale;
  }
  static int text_height(int scale = 1) { return kGlyphH * scale; }
  // Copies `src` with its top-left corner at (x, y), clipped to this canvas.
  void paste(const Canvas& src, int x, int y);

 private:
  int w_, h_;
  std::vector<uint8_t> px_;
};

struct Series {
  std::string label;
  std::vector<double> x, y;
  std::vector<double> lo, hi;  // optional shaded band (e.g. mean -+ std), same length as x
};

struct Chart {
  std::string title, xlabel, ylabel;
  std::vector<Series> series;
};

// Tick positions: "nice" steps (1, 2 or 5 x 10^k) giving about `target` ticks inside [lo, hi].
std::vector<double> nice_ticks(double lo, double hi, int target = 6);
// nice_ticks for an axis `pixels` long: at most 6, fewer when their labels would not fit side by
// side with two glyphs of space between them (narrow panels).
std::vector<double> axis_ticks(double lo, double hi, int pixels);
// Tick label: k/M suffixes for large values, as many decimals as the step needs
// (1500000 with step 500000 -> "1.5M", 0.25 with step 0.25 -> "0.25").
std::string tick_label(double v, double step);

// The chart's colours, in series order (cycled).
Rgb series_color(size_t i);
Canvas render_chart(const Chart& chart, int width = 960, int height = 600);
// render_chart, written as an RGB PNG (atomic: temp file then rename).
void write_chart_png(const std::string& path, const Chart& chart, int width = 960,
                     int height = 600);
// Small charts side by side: `columns` per row, each panel_width x panel_height, left to right
// then top to bottom; written as one RGB PNG like write_chart_png.
void write_panels_png(const std::string& path, const std::vector<Chart>& charts, int columns = 2,
                      int panel_width = 640, int panel_height = 360);

}  // namespace relmimic::report
