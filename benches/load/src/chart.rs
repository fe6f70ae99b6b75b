//! Line charts drawn pixel by pixel and written as PNG, with the built-in pixel font.

use std::path::Path;

use crate::font;

const WIDTH: u32 = 960;
const HEIGHT: u32 = 560;
const LEFT: i32 = 110;
const RIGHT: i32 = 30;
const TOP: i32 = 60;
const BOTTOM: i32 = 80;
const INK: [u8; 3] = [30, 30, 30];
const GRID: [u8; 3] = [225, 225, 225];

/// Colours that stay apart in print and for common colour blindness.
pub(crate) const BLUE: [u8; 3] = [0, 114, 178];
/// See [`BLUE`].
pub(crate) const ORANGE: [u8; 3] = [213, 94, 0];
/// See [`BLUE`].
pub(crate) const GREEN: [u8; 3] = [0, 158, 115];

/// One line.
#[derive(Debug, Clone)]
pub(crate) struct Series {
    /// Legend text.
    pub(crate) label: String,
    /// Colour.
    pub(crate) color: [u8; 3],
    /// Drawn dashed.
    pub(crate) dashed: bool,
    /// Points, in x order.
    pub(crate) points: Vec<(f64, f64)>,
}

/// A line chart.
#[derive(Debug, Clone)]
pub(crate) struct Chart {
    /// Title, above the plot.
    pub(crate) title: String,
    /// Horizontal axis label.
    pub(crate) x_label: String,
    /// Vertical axis label.
    pub(crate) y_label: String,
    /// A logarithmic vertical axis.
    pub(crate) log_y: bool,
    /// The lines.
    pub(crate) series: Vec<Series>,
}

struct Canvas {
    pixels: Vec<u8>,
}

impl Canvas {
    fn new() -> Self {
        Self {
            pixels: vec![255; (WIDTH * HEIGHT * 3) as usize],
        }
    }

    fn set(&mut self, x: i32, y: i32, color: [u8; 3]) {
        if x < 0 || y < 0 || x >= WIDTH as i32 || y >= HEIGHT as i32 {
            return;
        }
        let i = (y as usize * WIDTH as usize + x as usize) * 3;
        self.pixels[i..i + 3].copy_from_slice(&color);
    }

    fn rect(&mut self, x: i32, y: i32, w: i32, h: i32, color: [u8; 3]) {
        for dy in 0..h {
            for dx in 0..w {
                self.set(x + dx, y + dy, color);
            }
        }
    }

    /// A line `thick` pixels wide; dashed lines skip every other 8 pixels.
    fn line(&mut self, from: (i32, i32), to: (i32, i32), color: [u8; 3], thick: i32, dashed: bool) {
        let (dx, dy) = (to.0 - from.0, to.1 - from.1);
        let steps = dx.abs().max(dy.abs()).max(1);
        for s in 0..=steps {
            if dashed && (s / 8) % 2 == 1 {
                continue;
            }
            let x = from.0 + dx * s / steps;
            let y = from.1 + dy * s / steps;
            self.rect(x - thick / 2, y - thick / 2, thick, thick, color);
        }
    }

    fn text(&mut self, x: i32, y: i32, text: &str, scale: i32, color: [u8; 3]) {
        for (n, c) in text.chars().enumerate() {
            let left = x + n as i32 * 6 * scale;
            for (row, bits) in font::glyph(c).iter().enumerate() {
                for col in 0..5 {
                    if bits & (0x10 >> col) != 0 {
                        self.rect(
                            left + col * scale,
                            y + row as i32 * scale,
                            scale,
                            scale,
                            color,
                        );
                    }
                }
            }
        }
    }

    /// Text rotated a quarter turn anticlockwise, reading upwards, its start at the bottom.
    fn text_up(&mut self, x: i32, y: i32, text: &str, scale: i32, color: [u8; 3]) {
        for (n, c) in text.chars().enumerate() {
            let bottom = y - n as i32 * 6 * scale;
            for (row, bits) in font::glyph(c).iter().enumerate() {
                for col in 0..5 {
                    if bits & (0x10 >> col) != 0 {
                        self.rect(
                            x + row as i32 * scale,
                            bottom - (col + 1) * scale,
                            scale,
                            scale,
                            color,
                        );
                    }
                }
            }
        }
    }
}

/// Round tick values covering `lo..=hi`: steps of 1, 2 or 5 times a power of ten.
pub(crate) fn linear_ticks(lo: f64, hi: f64) -> Vec<f64> {
    let span = (hi - lo).max(1e-9);
    let raw = span / 5.0;
    let magnitude = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * magnitude)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * magnitude);
    let mut t = (lo / step).floor() * step;
    let mut ticks = vec![t];
    // Up to the first tick at or past `hi`, so no point falls off the axis.
    while t < hi - step * 1e-9 {
        t += step;
        ticks.push(t);
    }
    ticks
}

/// Ticks 1, 2, 5 × powers of ten covering `lo..=hi` (both > 0).
pub(crate) fn log_ticks(lo: f64, hi: f64) -> Vec<f64> {
    let mut ticks = Vec::new();
    let mut decade = 10f64.powf(lo.log10().floor());
    while decade <= hi * 10.0 {
        for m in [1.0, 2.0, 5.0] {
            ticks.push(m * decade);
        }
        decade *= 10.0;
    }
    let first = ticks.iter().rposition(|t| *t <= lo).unwrap_or(0);
    let last = ticks
        .iter()
        .position(|t| *t >= hi)
        .unwrap_or(ticks.len() - 1);
    ticks[first..=last].to_vec()
}

/// A tick label: no more digits than it needs.
pub(crate) fn label(value: f64) -> String {
    if value >= 10_000.0 && value % 1_000.0 == 0.0 {
        format!("{}k", value / 1_000.0)
    } else if value >= 10.0 || value == value.round() {
        format!("{value:.0}")
    } else if value >= 1.0 {
        format!("{value:.1}")
    } else {
        format!("{value:.2}")
    }
}

impl Chart {
    /// The chart as a PNG file.
    pub(crate) fn png(&self) -> Vec<u8> {
        let mut canvas = Canvas::new();
        let points = self.series.iter().flat_map(|s| s.points.iter());
        let (mut x_lo, mut x_hi, mut y_lo, mut y_hi) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
        for &(x, y) in points {
            (x_lo, x_hi) = (x_lo.min(x), x_hi.max(x));
            (y_lo, y_hi) = (y_lo.min(y), y_hi.max(y));
        }
        if x_lo > x_hi {
            (x_lo, x_hi, y_lo, y_hi) = (0.0, 1.0, 1.0, 10.0);
        }
        let y_ticks = if self.log_y {
            log_ticks(y_lo.max(1e-3), y_hi.max(y_lo.max(1e-3) * 1.01))
        } else {
            linear_ticks(0.0, y_hi.max(1e-9))
        };
        let x_ticks = linear_ticks(x_lo.min(0.0), x_hi);
        let (x0, x1) = (x_ticks[0], *x_ticks.last().unwrap_or(&1.0));
        let (y0, y1) = (y_ticks[0], *y_ticks.last().unwrap_or(&1.0));

        let (plot_w, plot_h) = (WIDTH as i32 - LEFT - RIGHT, HEIGHT as i32 - TOP - BOTTOM);
        let px = |x: f64| LEFT + ((x - x0) / (x1 - x0) * plot_w as f64).round() as i32;
        let py = |y: f64| {
            let f = if self.log_y {
                (y.max(y0).log10() - y0.log10()) / (y1.log10() - y0.log10())
            } else {
                (y - y0) / (y1 - y0)
            };
            TOP + plot_h - (f * plot_h as f64).round() as i32
        };

        for &t in &y_ticks {
            let y = py(t);
            canvas.line((LEFT, y), (LEFT + plot_w, y), GRID, 1, false);
            let text = label(t);
            canvas.text(
                LEFT - 10 - font::width(&text, 2) as i32,
                y - 7,
                &text,
                2,
                INK,
            );
        }
        for &t in &x_ticks {
            let x = px(t);
            canvas.line((x, TOP), (x, TOP + plot_h), GRID, 1, false);
            let text = label(t);
            canvas.text(
                x - font::width(&text, 2) as i32 / 2,
                TOP + plot_h + 10,
                &text,
                2,
                INK,
            );
        }
        canvas.line((LEFT, TOP), (LEFT, TOP + plot_h), INK, 2, false);
        canvas.line(
            (LEFT, TOP + plot_h),
            (LEFT + plot_w, TOP + plot_h),
            INK,
            2,
            false,
        );

        canvas.text(LEFT, 18, &self.title, 3, INK);
        let x_label_w = font::width(&self.x_label, 2) as i32;
        canvas.text(
            LEFT + (plot_w - x_label_w) / 2,
            HEIGHT as i32 - 34,
            &self.x_label,
            2,
            INK,
        );
        let y_label_w = font::width(&self.y_label, 2) as i32;
        canvas.text_up(14, TOP + (plot_h + y_label_w) / 2, &self.y_label, 2, INK);

        for series in &self.series {
            let mapped: Vec<(i32, i32)> =
                series.points.iter().map(|&(x, y)| (px(x), py(y))).collect();
            for pair in mapped.windows(2) {
                canvas.line(pair[0], pair[1], series.color, 3, series.dashed);
            }
            for &(x, y) in &mapped {
                canvas.rect(x - 4, y - 4, 9, 9, series.color);
            }
        }

        // Legend, top left inside the plot.
        for (n, series) in self.series.iter().enumerate() {
            let y = TOP + 12 + n as i32 * 22;
            canvas.line(
                (LEFT + 16, y + 6),
                (LEFT + 52, y + 6),
                series.color,
                3,
                series.dashed,
            );
            canvas.text(LEFT + 62, y, &series.label, 2, INK);
        }
        crate::png::encode(WIDTH, HEIGHT, &canvas.pixels)
    }

    /// Writes the chart to `path`.
    pub(crate) fn write(&self, path: &Path) -> std::io::Result<()> {
        std::fs::write(path, self.png())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linear_ticks_are_round_and_cover_the_range() {
        assert_eq!(
            linear_ticks(0.0, 100.0),
            vec![0.0, 20.0, 40.0, 60.0, 80.0, 100.0]
        );
        let ticks = linear_ticks(0.0, 7300.0);
        assert_eq!(ticks.first(), Some(&0.0));
        assert!(*ticks.last().unwrap() >= 7300.0);
        assert_eq!(ticks[1], 2000.0);
        assert_eq!(linear_ticks(0.0, 42_000.0).last(), Some(&50_000.0));
    }

    #[test]
    fn log_ticks_step_one_two_five() {
        assert_eq!(
            log_ticks(30.0, 900.0),
            vec![20.0, 50.0, 100.0, 200.0, 500.0, 1000.0]
        );
    }

    #[test]
    fn labels_are_short() {
        assert_eq!(label(20_000.0), "20k");
        assert_eq!(label(250.0), "250");
        assert_eq!(label(2.5), "2.5");
        assert_eq!(label(0.05), "0.05");
    }

    #[test]
    fn a_chart_is_a_png() {
        let chart = Chart {
            title: "t".into(),
            x_label: "x".into(),
            y_label: "y".into(),
            log_y: true,
            series: vec![Series {
                label: "a".into(),
                color: BLUE,
                dashed: false,
                points: vec![(1.0, 10.0), (2.0, 100.0)],
            }],
        };
        let png = chart.png();
        assert!(png.starts_with(b"\x89PNG"));
    }
}
