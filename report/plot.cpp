#include "report/plot.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

#include "kernels/common.h"
#include "report/media.h"

namespace relmimic::report {

// ---------------------------------------------------------------- Canvas

Canvas::Canvas(int width, int height, Rgb background) : w_(width), h_(height) {
  RM_CHECK(width > 0 && height > 0 && width <= 16384 && height <= 16384,
           "canvas size must be in [1, 16384], got ", width, " x ", height);
  px_.resize(size_t(w_) * h_ * 3);
  for (size_t i = 0; i < px_.size(); i += 3)
    px_[i] = background.r, px_[i + 1] = background.g, px_[i + 2] = background.b;
}

Rgb Canvas::at(int x, int y) const {
  RM_CHECK(x >= 0 && x < w_ && y >= 0 && y < h_, "pixel (", x, ", ", y, ") is outside ", w_, " x ",
           h_);
  const uint8_t* p = &px_[(size_t(y) * w_ + x) * 3];
  return {p[0], p[1], p[2]};
}

void Canvas::blend(int x, int y, Rgb c, double alpha) {
  if (x < 0 || x >= w_ || y < 0 || y >= h_ || alpha <= 0) return;
  alpha = std::min(alpha, 1.0);
  uint8_t* p = &px_[(size_t(y) * w_ + x) * 3];
  const uint8_t src[3] = {c.r, c.g, c.b};
  for (int k = 0; k < 3; ++k) p[k] = uint8_t(std::lround(p[k] + alpha * (src[k] - p[k])));
}

void Canvas::fill_rect(int x0, int y0, int x1, int y1, Rgb c, double alpha) {
  for (int y = std::max(y0, 0); y < std::min(y1, h_); ++y)
    for (int x = std::max(x0, 0); x < std::min(x1, w_); ++x) blend(x, y, c, alpha);
}

void Canvas::line(double x0, double y0, double x1, double y1, Rgb c, double width) {
  const double r = width / 2 + 0.5;  // beyond this distance a pixel gets no coverage
  const int bx0 = int(std::floor(std::min(x0, x1) - r)), bx1 = int(std::ceil(std::max(x0, x1) + r));
  const int by0 = int(std::floor(std::min(y0, y1) - r)), by1 = int(std::ceil(std::max(y0, y1) + r));
  const double dx = x1 - x0, dy = y1 - y0, len2 = dx * dx + dy * dy;
  for (int y = std::max(by0, 0); y <= std::min(by1, h_ - 1); ++y) {
    for (int x = std::max(bx0, 0); x <= std::min(bx1, w_ - 1); ++x) {
      const double px = x + 0.5, py = y + 0.5;
      // Distance from the pixel centre to the nearest point of the segment.
      const double t =
          len2 > 0 ? std::clamp(((px - x0) * dx + (py - y0) * dy) / len2, 0.0, 1.0) : 0.0;
      const double d = std::hypot(px - (x0 + t * dx), py - (y0 + t * dy));
      blend(x, y, c, std::clamp(r - d, 0.0, 1.0));
    }
  }
}

void Canvas::text(int x, int y, std::string_view s, Rgb c, int scale, bool vertical) {
  const int advance = (kGlyphW + 1) * scale;
  for (size_t i = 0; i < s.size(); ++i) {
    const uint8_t* rows = glyph(s[i]);
    for (int gy = 0; gy < kGlyphH; ++gy) {
      for (int gx = 0; gx < kGlyphW; ++gx) {
        if (!(rows[gy] >> (kGlyphW - 1 - gx) & 1)) continue;
        const int u = int(i) * advance + gx * scale, v = gy * scale;  // text coordinates
        if (vertical)  // (u, v) -> (x + v, y - u): the glyph's top faces left
          fill_rect(x + v, y - u - scale, x + v + scale, y - u, c);
        else
          fill_rect(x + u, y + v, x + u + scale, y + v + scale, c);
      }
    }
  }
}

void Canvas::paste(const Canvas& src, int x, int y) {
  for (int sy = std::max(0, -y); sy < src.h_ && y + sy < h_; ++sy) {
    const int sx0 = std::max(0, -x), sx1 = std::min(src.w_, w_ - x);
    if (sx1 <= sx0) continue;
    std::copy(src.px_.begin() + (ptrdiff_t(sy) * src.w_ + sx0) * 3,
              src.px_.begin() + (ptrdiff_t(sy) * src.w_ + sx1) * 3,
              px_.begin() + (ptrdiff_t(y + sy) * w_ + x + sx0) * 3);
  }
}

// ---------------------------------------------------------------- ticks

std::vector<double> nice_ticks(double lo, double hi, int target) {
  RM_CHECK(std::isfinite(lo) && std::isfinite(hi) && lo <= hi, "nice_ticks: bad range [", lo, ", ",
           hi, "]");
  const double range = hi > lo ? hi - lo : std::max(std::fabs(lo), 1.0);
  const double raw = range / std::max(target, 1);
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  const double f = raw / mag;
  const double s = f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10, step = s * mag;
  // k * s is an exact integer; dividing by an exact power of ten gives 0.6, not 0.6000000000000001.
  const double inv = mag < 1 ? std::round(1 / mag) : 0;
  std::vector<double> ticks;
  for (double k = std::ceil(lo / step - 1e-9); k * step <= hi + step * 1e-9; k += 1) {
    const double t = inv > 0 ? k * s / inv : k * s * mag;
    ticks.push_back(t == 0 ? 0.0 : t);  // no -0
  }
  return ticks;
}

std::string tick_label(double v, double step) {
  step = std::fabs(step);
  const double unit = step >= 1e5 ? 1e6 : step >= 1e3 ? 1e3 : 1.0;
  const char* suffix = unit == 1e6 ? "M" : unit == 1e3 ? "k" : "";
  // Fewest decimals that write the step exactly (0.25 -> 2, 5 -> 0).
  int decimals = 0;
  for (double s = step / unit; decimals < 6; ++decimals, s *= 10)
    if (std::fabs(s - std::round(s)) < 1e-6 * std::max(s, 1.0)) break;
  if (std::fabs(v) < step * 1e-6) v = 0;  // no "-0"
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f%s", decimals, v / unit, suffix);
  return buf;
}

// ---------------------------------------------------------------- chart

Rgb series_color(size_t i) {
  // Distinguishable on white, in the order of the common "tab10" cycle.
  static const Rgb kColors[] = {{31, 119, 180},  {255, 127, 14}, {44, 160, 44},   {214, 39, 40},
                                {148, 103, 189}, {140, 86, 75},  {227, 119, 194}, {127, 127, 127},
                                {188, 189, 34},  {23, 190, 207}};
  return kColors[i % (sizeof kColors / sizeof kColors[0])];
}

namespace {

constexpr Rgb kWhite{255, 255, 255}, kInk{30, 30, 30}, kGrid{225, 225, 225};
constexpr int kScale = 2;  // font pixels per glyph pixel: 10 x 14 characters

struct Range {
  double lo = std::numeric_limits<double>::infinity(), hi = -lo;
  void add(double v) {
    if (std::isfinite(v)) lo = std::min(lo, v), hi = std::max(hi, v);
  }
  bool empty() const { return lo > hi; }
  // A flat range gets some height so it can be drawn.
  void widen(double pad_fraction) {
    if (hi == lo) {
      const double d = std::max(std::fabs(lo) * 0.05, 0.5);
      lo -= d, hi += d;
    } else {
      const double d = (hi - lo) * pad_fraction;
      lo -= d, hi += d;
    }
  }
};

// A one-pixel rectangle outline around [x0, x1] x [y0, y1].
void frame(Canvas& cv, int x0, int y0, int x1, int y1, Rgb c) {
  cv.fill_rect(x0, y0, x1 + 1, y0 + 1, c);
  cv.fill_rect(x0, y1, x1 + 1, y1 + 1, c);
  cv.fill_rect(x0, y0, x0 + 1, y1 + 1, c);
  cv.fill_rect(x1, y0, x1 + 1, y1 + 1, c);
}

// Linear interpolation of ys at x (xs ascending).
double interp(const std::vector<double>& xs, const std::vector<double>& ys, double x) {
  const size_t i = size_t(std::upper_bound(xs.begin(), xs.end(), x) - xs.begin());
  if (i == 0) return ys.front();
  if (i >= xs.size()) return ys.back();
  const double t = (x - xs[i - 1]) / (xs[i] - xs[i - 1]);
  return ys[i - 1] + t * (ys[i] - ys[i - 1]);
}

}  // namespace

std::vector<double> axis_ticks(double lo, double hi, int pixels) {
  std::vector<double> ticks;
  for (int target = 6; target >= 1; --target) {
    ticks = nice_ticks(lo, hi, target);
    if (ticks.size() < 2 || hi <= lo) break;
    const double step = ticks[1] - ticks[0];
    int widest = 0;
    for (double v : ticks)
      widest = std::max(widest, Canvas::text_width(tick_label(v, step), kScale));
    if (step / (hi - lo) * pixels >= widest + 2 * kGlyphW * kScale) break;
  }
  return ticks;
}

Canvas render_chart(const Chart& chart, int width, int height) {
  Range xr, yr;
  for (const Series& s : chart.series) {
    RM_CHECK(s.x.size() == s.y.size(), "series '", s.label, "': ", s.x.size(), " x values, ",
             s.y.size(), " y values");
    RM_CHECK(s.lo.size() == s.hi.size() && (s.lo.empty() || s.lo.size() == s.x.size()), "series '",
             s.label, "': the band needs one lo and one hi per x");
    for (size_t i = 0; i < s.x.size(); ++i) {
      xr.add(s.x[i]);
      yr.add(s.y[i]);
      if (!s.lo.empty()) yr.add(s.lo[i]), yr.add(s.hi[i]);
    }
  }
  RM_CHECK(!xr.empty() && !yr.empty(), "chart '", chart.title, "' has no finite points to draw");
  if (xr.hi == xr.lo) xr.widen(0);
  yr.widen(0.04);

  Canvas cv(width, height, kWhite);
  const int th = Canvas::text_height(kScale);
  const std::vector<double> yt = nice_ticks(yr.lo, yr.hi);
  const double ystep = yt.size() > 1 ? yt[1] - yt[0] : 1;
  int ytick_w = 0, legend_w = 0;
  for (double v : yt) ytick_w = std::max(ytick_w, Canvas::text_width(tick_label(v, ystep), kScale));
  for (const Series& s : chart.series)
    legend_w = std::max(legend_w, Canvas::text_width(s.label, kScale));
  legend_w += 28 + 24;  // swatch, gap, padding

  // Plot area [left, right] x [top, bottom] in pixels.
  const int top = 14 + th + 14;
  const int left = 14 + (chart.ylabel.empty() ? 0 : th + 12) + ytick_w + 10;
  const int right = width - 16 - legend_w - 12;
  const int bottom = height - (14 + (chart.xlabel.empty() ? 0 : th + 10) + th + 10);
  RM_CHECK(right - left >= 40 && bottom - top >= 40, "chart is too small (", width, " x ", height,
           ") for its labels and legend");
  const std::vector<double> xt = axis_ticks(xr.lo, xr.hi, right - left);
  // One tick alone is labelled in its own unit (2M, not 2000000).
  const double xstep = xt.size() > 1 ? xt[1] - xt[0] : xt.empty() ? 1 : std::fabs(xt[0]);
  auto px = [&](double x) { return left + (x - xr.lo) / (xr.hi - xr.lo) * (right - left); };
  auto py = [&](double y) { return bottom - (y - yr.lo) / (yr.hi - yr.lo) * (bottom - top); };

  // Grid and tick labels.
  for (double v : xt) {
    const int x = int(std::lround(px(v)));
    cv.fill_rect(x, top, x + 1, bottom, kGrid);
    cv.fill_rect(x, bottom, x + 1, bottom + 6, kInk);
    const std::string l = tick_label(v, xstep);
    cv.text(x - Canvas::text_width(l, kScale) / 2, bottom + 10, l, kInk, kScale);
  }
  for (double v : yt) {
    const int y = int(std::lround(py(v)));
    cv.fill_rect(left, y, right, y + 1, kGrid);
    cv.fill_rect(left - 6, y, left, y + 1, kInk);
    const std::string l = tick_label(v, ystep);
    cv.text(left - 10 - Canvas::text_width(l, kScale), y - th / 2, l, kInk, kScale);
  }

  // Bands first (translucent, per pixel column), then the lines over them.
  for (size_t k = 0; k < chart.series.size(); ++k) {
    const Series& s = chart.series[k];
    if (s.lo.empty() || s.x.size() < 2) continue;
    const int c0 = int(std::ceil(px(s.x.front()))), c1 = int(std::floor(px(s.x.back())));
    for (int c = c0; c <= c1; ++c) {
      const double x = xr.lo + (c - left) * (xr.hi - xr.lo) / (right - left);
      const double ya = py(interp(s.x, s.lo, x)), yb = py(interp(s.x, s.hi, x));
      cv.fill_rect(c, int(std::lround(std::min(ya, yb))), c + 1,
                   int(std::lround(std::max(ya, yb))) + 1, series_color(k), 0.22);
    }
  }
  for (size_t k = 0; k < chart.series.size(); ++k) {
    const Series& s = chart.series[k];
    for (size_t i = 0; i + 1 < s.x.size(); ++i)
      cv.line(px(s.x[i]), py(s.y[i]), px(s.x[i + 1]), py(s.y[i + 1]), series_color(k), 2.0);
    if (s.x.size() == 1)
      cv.line(px(s.x[0]) - 3, py(s.y[0]), px(s.x[0]) + 3, py(s.y[0]), series_color(k), 3.0);
  }

  // Frame, title, axis labels.
  frame(cv, left, top, right, bottom, kInk);
  // Centred over the plot area; a title wider than that starts at the image's left margin and
  // a title wider than the image drops its tail (never its head).
  std::string title = chart.title;
  const int max_chars = (width - 28 + kScale) / ((kGlyphW + 1) * kScale);
  if (int(title.size()) > max_chars) title.resize(size_t(std::max(0, max_chars)));
  const int title_w = Canvas::text_width(title, kScale);
  cv.text(std::max(14, std::min((left + right - title_w) / 2, width - 14 - title_w)), 14, title,
          kInk, kScale);
  if (!chart.xlabel.empty())
    cv.text((left + right - Canvas::text_width(chart.xlabel, kScale)) / 2, height - 14 - th,
            chart.xlabel, kInk, kScale);
  if (!chart.ylabel.empty())
    cv.text(14, (top + bottom + Canvas::text_width(chart.ylabel, kScale)) / 2, chart.ylabel, kInk,
            kScale, /*vertical=*/true);

  // Legend, right of the plot: a swatch and the label per series.
  const int lx = right + 12;
  frame(cv, lx, top, lx + legend_w, top + 10 + int(chart.series.size()) * (th + 10), kInk);
  for (size_t k = 0; k < chart.series.size(); ++k) {
    const int y = top + 12 + int(k) * (th + 10);
    cv.fill_rect(lx + 12, y + th / 2 - 2, lx + 36, y + th / 2 + 2, series_color(k));
    cv.text(lx + 44, y, chart.series[k].label, kInk, kScale);
  }
  return cv;
}

void write_chart_png(const std::string& path, const Chart& chart, int width, int height) {
  const Canvas cv = render_chart(chart, width, height);
  write_png(path, cv.pixels().data(), cv.height(), cv.width(), 3);
}

void write_panels_png(const std::string& path, const std::vector<Chart>& charts, int columns,
                      int panel_width, int panel_height) {
  RM_CHECK(!charts.empty(), path, ": no charts to draw");
  RM_CHECK(columns >= 1, "write_panels_png: columns must be >= 1, got ", columns);
  const int cols = std::min(columns, int(charts.size()));
  const int rows = (int(charts.size()) + cols - 1) / cols;
  Canvas all(cols * panel_width, rows * panel_height, kWhite);
  for (size_t i = 0; i < charts.size(); ++i)
    all.paste(render_chart(charts[i], panel_width, panel_height), int(i) % cols * panel_width,
              int(i) / cols * panel_height);
  write_png(path, all.pixels().data(), all.height(), all.width(), 3);
}

}  // namespace relmimic::report
