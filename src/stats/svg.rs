//! The page's charts as inline SVG, drawn here rather than by a charting library: a page that
//! needs no script, no network and no new dependency, whose size grows with the rows drawn (a
//! year of weeks is a few dozen bars), and that prints the same in every browser. Three shapes
//! cover every chart of `stats --html`: columns over time (stacked), columns above and below zero,
//! and horizontal bars by a key (stacked or side by side). Every text is escaped; every chart
//! carries its axes' titles with their units, and the figure around it its title and table.

use std::fmt::Write;

/// Width of every chart in SVG units; the page scales it to its column.
const WIDTH: f64 = 760.0;
/// Above this many bars, a chart over time draws one path a colour and no tooltips (the table
/// has the numbers): a year of days stays small.
const MAX_TOOLTIPS: usize = 400;

/// One coloured part of every bar: a name for the legend, a colour, a value per bar.
pub(super) struct Series {
    pub name: String,
    pub color: &'static str,
    pub values: Vec<f64>,
}

/// How numbers on an axis and in tooltips print, and what the axis measures (with its unit).
pub(super) struct Axis {
    pub title: String,
    pub fmt: fn(f64) -> String,
}

/// `<`, `>`, `&` and quotes escaped for text and attribute values alike.
pub(crate) fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Round steps (1, 2, 5 × 10ⁿ) from `lo` to `hi`, about `n` of them, both ends included.
fn ticks(lo: f64, hi: f64, n: usize) -> Vec<f64> {
    let span = (hi - lo).max(f64::EPSILON);
    let raw = span / n.max(1) as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag);
    let first = (lo / step).floor() as i64;
    // Whole multiples of the step's leading digit, scaled by a power of ten: dividing by 10
    // rather than multiplying by 0.1 gives 0.6, not 0.6000000000000001.
    let digit = (step / mag).round();
    let scale = |m: f64| {
        if mag < 1.0 {
            m / (1.0 / mag).round()
        } else {
            m * mag
        }
    };
    let mut out = Vec::new();
    for k in first.. {
        let v = scale(k as f64 * digit);
        out.push(if v == 0.0 { 0.0 } else { v });
        if v >= hi - step * 1e-9 {
            break;
        }
    }
    out
}

/// Two decimals at most, trailing zeros dropped: SVG coordinates stay short.
fn n(v: f64) -> String {
    let s = format!("{v:.1}");
    s.strip_suffix(".0").map_or(s.clone(), str::to_string)
}

fn open(height: f64, title_id: &str) -> String {
    format!(
        "<svg class=\"chart\" viewBox=\"0 0 {} {}\" role=\"img\" aria-labelledby=\"{}\" \
         xmlns=\"http://www.w3.org/2000/svg\">",
        n(WIDTH),
        n(height),
        esc(title_id)
    )
}

/// Columns over time: `labels` along the bottom, `series` stacked in each column (values ≥ 0).
pub(super) fn columns(
    labels: &[String],
    series: &[Series],
    x: &Axis,
    y: &Axis,
    title_id: &str,
) -> String {
    let totals: Vec<f64> = (0..labels.len())
        .map(|i| series.iter().map(|s| s.values[i].max(0.0)).sum())
        .collect();
    let max = totals.iter().copied().fold(0.0, f64::max);
    time_frame(labels, 0.0, max, x, y, title_id, |plot, out| {
        if labels.len() * series.len() > MAX_TOOLTIPS {
            // Many columns: one path a series, no tooltips (the table has the numbers).
            let mut paths = vec![String::new(); series.len()];
            for i in 0..labels.len() {
                let mut base = 0.0;
                for (s, d) in series.iter().zip(&mut paths) {
                    let v = s.values[i].max(0.0);
                    if v > 0.0 {
                        let (y0, y1) = (plot.y(base), plot.y(base + v));
                        base += v;
                        plot.column_path(d, i, y1, y0 - y1);
                    }
                }
            }
            for (s, d) in series.iter().zip(paths) {
                if !d.is_empty() {
                    let _ = write!(out, "<path d=\"{d}\" fill=\"{}\"/>", s.color);
                }
            }
            return;
        }
        for (i, label) in labels.iter().enumerate() {
            let mut base = 0.0;
            for s in series {
                let v = s.values[i].max(0.0);
                if v <= 0.0 {
                    continue;
                }
                let (y0, y1) = (plot.y(base), plot.y(base + v));
                base += v;
                plot.column(out, i, y1, y0 - y1, s.color);
                let _ = write!(
                    out,
                    "<title>{}: {} {}</title></rect>",
                    esc(label),
                    (y.fmt)(v),
                    esc(&s.name)
                );
            }
        }
    })
}

/// One value per column, above zero in `up`, below in `down`.
pub(super) fn signed_columns(
    labels: &[String],
    values: &[f64],
    colors: (&'static str, &'static str),
    x: &Axis,
    y: &Axis,
    title_id: &str,
) -> String {
    let lo = values.iter().copied().fold(0.0, f64::min);
    let hi = values.iter().copied().fold(0.0, f64::max);
    time_frame(labels, lo, hi, x, y, title_id, |plot, out| {
        let many = labels.len() > MAX_TOOLTIPS;
        let (mut up, mut down) = (String::new(), String::new());
        for (i, (label, v)) in labels.iter().zip(values).enumerate() {
            if *v == 0.0 {
                continue;
            }
            let (a, b) = (plot.y(0.0), plot.y(*v));
            if many {
                let d = if *v > 0.0 { &mut up } else { &mut down };
                plot.column_path(d, i, a.min(b), (a - b).abs());
                continue;
            }
            let color = if *v > 0.0 { colors.0 } else { colors.1 };
            plot.column(out, i, a.min(b), (a - b).abs(), color);
            let _ = write!(out, "<title>{}: {}</title></rect>", esc(label), (y.fmt)(*v));
        }
        for (d, color) in [(up, colors.0), (down, colors.1)] {
            if !d.is_empty() {
                let _ = write!(out, "<path d=\"{d}\" fill=\"{color}\"/>");
            }
        }
    })
}

/// The plot area of a time chart and where a value or a column lands in it.
struct Plot {
    left: f64,
    top: f64,
    height: f64,
    lo: f64,
    hi: f64,
    slot: f64,
}

impl Plot {
    fn y(&self, v: f64) -> f64 {
        self.top + self.height * (self.hi - v) / (self.hi - self.lo)
    }

    /// Where column `i` starts and how wide it is, a gap on each side.
    fn span(&self, i: usize) -> (f64, f64) {
        let gap = (self.slot * 0.2).min(6.0);
        (
            self.left + self.slot * i as f64 + gap / 2.0,
            (self.slot - gap).max(0.5),
        )
    }

    /// Opens a column's `<rect>` (the caller adds a tooltip and closes it).
    fn column(&self, out: &mut String, i: usize, y: f64, h: f64, color: &str) {
        let (x, w) = self.span(i);
        let _ = write!(
            out,
            "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{color}\">",
            n(x),
            n(y),
            n(w),
            n(h.max(0.5)),
        );
    }

    /// A column as a piece of a path: a fraction of a `<rect>`'s bytes.
    fn column_path(&self, d: &mut String, i: usize, y: f64, h: f64) {
        let (x, w) = self.span(i);
        let _ = write!(
            d,
            "M{} {}h{}v{}h-{}z",
            n(x),
            n(y),
            n(w),
            n(h.max(0.5)),
            n(w)
        );
    }
}

/// Axes, gridlines and labels of a chart over time; `draw` adds the columns.
fn time_frame(
    labels: &[String],
    lo: f64,
    hi: f64,
    x: &Axis,
    y: &Axis,
    title_id: &str,
    draw: impl FnOnce(&Plot, &mut String),
) -> String {
    let (left, right, top, bottom) = (70.0, 12.0, 12.0, 52.0);
    let height = 260.0;
    let ticks = ticks(lo, if hi > lo { hi } else { lo + 1.0 }, 5);
    let (lo, hi) = (ticks[0], ticks[ticks.len() - 1]);
    let plot = Plot {
        left,
        top,
        height: height - top - bottom,
        lo,
        hi,
        // A few periods are narrow columns at the left, not slabs across the chart.
        slot: ((WIDTH - left - right) / labels.len().max(1) as f64).min(56.0),
    };
    let mut out = open(height, title_id);
    for t in &ticks {
        let ty = plot.y(*t);
        let _ = write!(
            out,
            "<line class=\"{}\" x1=\"{}\" x2=\"{}\" y1=\"{y}\" y2=\"{y}\"/>\
             <text class=\"tick\" x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>",
            if *t == 0.0 { "zero" } else { "grid" },
            n(left),
            n(WIDTH - right),
            n(left - 6.0),
            n(ty + 4.0),
            esc(&(y.fmt)(*t)),
            y = n(ty),
        );
    }
    draw(&plot, &mut out);
    // At most about a dozen labels along the bottom, evenly spaced.
    let every = labels.len().div_ceil(12).max(1);
    for (i, label) in labels.iter().enumerate().step_by(every) {
        let _ = write!(
            out,
            "<text class=\"tick\" x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
            n(left + plot.slot * (i as f64 + 0.5)),
            n(top + plot.height + 16.0),
            esc(label)
        );
    }
    axis_titles(&mut out, x, y, height, left, top, plot.height);
    out.push_str("</svg>");
    out
}

/// A value just past the end of a bar.
fn end_label(out: &mut String, x: f64, y: f64, text: &str) {
    let _ = write!(
        out,
        "<text class=\"value\" x=\"{}\" y=\"{}\">{}</text>",
        n(x + 4.0),
        n(y),
        esc(text)
    );
}

fn axis_titles(
    out: &mut String,
    x: &Axis,
    y: &Axis,
    height: f64,
    left: f64,
    top: f64,
    plot_h: f64,
) {
    let _ = write!(
        out,
        "<text class=\"axis\" x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>\
         <text class=\"axis\" transform=\"translate(14 {}) rotate(-90)\" text-anchor=\"middle\">{}</text>",
        n(left + (WIDTH - left) / 2.0),
        n(height - 8.0),
        esc(&x.title),
        n(top + plot_h / 2.0),
        esc(&y.title),
    );
}

/// Horizontal bars, one row per key: `series` stacked along the row, or side by side in it.
/// `max` fixes the scale's end (100 for shares); otherwise the data sets it.
pub(super) fn bars(
    keys: &[String],
    series: &[Series],
    stacked: bool,
    x: &Axis,
    max: Option<f64>,
    title_id: &str,
) -> String {
    // Room on the right for the value past the longest bar.
    let (left, right, top, bottom) = (170.0, 60.0, 8.0, 44.0);
    let bar = 14.0;
    let row = if stacked {
        bar + 10.0
    } else {
        bar * series.len() as f64 + 10.0
    };
    let plot_h = row * keys.len() as f64;
    let height = top + plot_h + bottom;
    let data_max = (0..keys.len())
        .map(|i| {
            let vals = series.iter().map(|s| s.values[i].max(0.0));
            if stacked {
                vals.sum()
            } else {
                vals.fold(0.0, f64::max)
            }
        })
        .fold(0.0, f64::max);
    let hi = max.unwrap_or(data_max).max(f64::EPSILON);
    let ticks = ticks(0.0, hi, 5);
    let hi = ticks[ticks.len() - 1];
    let plot_w = WIDTH - left - right;
    let xpos = |v: f64| left + plot_w * v / hi;
    let mut out = open(height, title_id);
    for t in &ticks {
        let tx = xpos(*t);
        let _ = write!(
            out,
            "<line class=\"{}\" x1=\"{x}\" x2=\"{x}\" y1=\"{}\" y2=\"{}\"/>\
             <text class=\"tick\" x=\"{x}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
            if *t == 0.0 { "zero" } else { "grid" },
            n(top),
            n(top + plot_h),
            n(top + plot_h + 16.0),
            esc(&(x.fmt)(*t)),
            x = n(tx),
        );
    }
    for (i, key) in keys.iter().enumerate() {
        let ry = top + row * i as f64 + 5.0;
        let shown: String = if key.chars().count() > 24 {
            key.chars().take(23).chain(['…']).collect()
        } else {
            key.clone()
        };
        let _ = write!(
            out,
            "<text class=\"key\" x=\"{}\" y=\"{}\" text-anchor=\"end\"><title>{}</title>{}</text>",
            n(left - 8.0),
            n(ry + (row - 10.0) / 2.0 + 4.0),
            esc(key),
            esc(&shown)
        );
        let mut base = 0.0;
        for (j, s) in series.iter().enumerate() {
            let v = s.values[i].max(0.0);
            let (x0, y0) = if stacked {
                (base, ry)
            } else {
                (0.0, ry + bar * j as f64)
            };
            if stacked {
                base += v;
            } else {
                // Side by side, each bar says its value at its end (a zero too: no bar is a 0).
                end_label(&mut out, xpos(v), y0 + bar / 2.0 + 3.0, &(x.fmt)(v));
            }
            if v <= 0.0 {
                continue;
            }
            let _ = write!(
                out,
                "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{}\"><title>{}: {} {}</title></rect>",
                n(xpos(x0)),
                n(y0),
                n((xpos(x0 + v) - xpos(x0)).max(0.5)),
                n(bar - 1.0),
                s.color,
                esc(key),
                (x.fmt)(v),
                esc(&s.name),
            );
        }
        // Stacked counts say their total at the end; stacked shares all end at 100%.
        if stacked && max.is_none() {
            end_label(&mut out, xpos(base), ry + bar / 2.0 + 3.0, &(x.fmt)(base));
        }
    }
    let _ = write!(
        out,
        "<text class=\"axis\" x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text></svg>",
        n(left + plot_w / 2.0),
        n(height - 8.0),
        esc(&x.title),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round_and_cover_the_range() {
        assert_eq!(ticks(0.0, 10.0, 5), [0.0, 2.0, 4.0, 6.0, 8.0, 10.0]);
        assert_eq!(ticks(0.0, 7.0, 5), [0.0, 2.0, 4.0, 6.0, 8.0]);
        assert_eq!(ticks(0.0, 100.0, 5), [0.0, 20.0, 40.0, 60.0, 80.0, 100.0]);
        assert_eq!(
            ticks(-85.0, 1105.0, 5),
            [-500.0, 0.0, 500.0, 1000.0, 1500.0]
        );
        assert_eq!(ticks(0.0, 1.0, 5), [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]);
        assert_eq!(ticks(0.0, 3.0, 5), [0.0, 1.0, 2.0, 3.0]);
    }

    #[test]
    fn text_is_escaped_everywhere() {
        let key = "<script>alert(1)</script>\"'&".to_string();
        let s = Series {
            name: "</svg><img src=x onerror=alert(1)>".into(),
            color: "#000",
            values: vec![1.0],
        };
        let x = Axis {
            title: "a <b>".into(),
            fmt: |v| format!("{v}"),
        };
        let out = bars(std::slice::from_ref(&key), &[s], true, &x, None, "t\"1");
        assert!(!out.contains("<script"), "{out}");
        assert!(!out.contains("<img"), "{out}");
        assert!(!out.contains("<b>"), "{out}");
        assert!(out.contains("&lt;script&gt;alert(1)&lt;/script&gt;&quot;&#39;&amp;"));
        assert!(out.contains("aria-labelledby=\"t&quot;1\""));
    }
}
