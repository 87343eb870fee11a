//! Line charts as SVG for the survey's executed blocks (feature `plot`).
//!
//! The charts are drawn with plotters' SVG backend and no font library: the browser
//! lays out the text, so Japanese labels need nothing on the machine that draws them.
//! The background is transparent, and a `<style>` element in the SVG switches the
//! text, axis, grid and series colours when the reader's system prefers a dark
//! scheme on screen (printed pages keep the light colours). That works for an SVG shown with `<img>` too, which cannot inherit the
//! page's CSS. The chart's title becomes the SVG's `<title>`, the accessible name
//! when the file is opened on its own.
//!
//! ```no_run
//! use seqmodels::plot::Chart;
//!
//! let svg = Chart::new("誤差", "ランドマーク数", "相対誤差")
//!     .log_x()
//!     .log_y()
//!     .series("Skyformer", [(16.0, 0.3), (32.0, 0.2), (64.0, 0.1)])
//!     .to_svg()?;
//! # Ok::<(), seqmodels::plot::PlotError>(())
//! ```

use std::path::Path;

use plotters::coord::Shift;
use plotters::coord::ranged1d::{Ranged, ValueFormatter};
use plotters::coord::combinators::LogCoord;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

/// Text, axes and legend frame (light scheme).
const INK: RGBColor = RGBColor(0x1d, 0x1d, 0x1f);
/// Grid lines at the labelled values (light scheme).
const GRID: RGBColor = RGBColor(0xd0, 0xd0, 0xd0);
/// Legend background (light scheme).
const PAPER: RGBColor = RGBColor(0xff, 0xff, 0xff);

/// Series colours: (light scheme, dark scheme). The light ones keep a contrast of at
/// least 4.5:1 on white, the dark ones on the site's dark background.
const PALETTE: [(RGBColor, &str); 6] = [
    (RGBColor(0x1a, 0x5f, 0xc8), "#8ab4f8"),
    (RGBColor(0xc5, 0x22, 0x1f), "#f28b82"),
    (RGBColor(0x13, 0x73, 0x33), "#81c995"),
    (RGBColor(0x9a, 0x4a, 0x00), "#fcad70"),
    (RGBColor(0x7b, 0x1f, 0xa2), "#d7aefb"),
    (RGBColor(0x00, 0x6a, 0x6a), "#78d9ec"),
];

/// The font family written into the SVG; the browser picks a Japanese face from it.
const FONT: &str = "Hiragino Sans, Noto Sans CJK JP, Noto Sans JP, Yu Gothic, sans-serif";

/// An error while drawing a chart.
#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    #[error("chart `{title}`: {message}")]
    Invalid { title: String, message: String },
    #[error("chart `{title}`: drawing failed: {message}")]
    Drawing { title: String, message: String },
    #[error("cannot write {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
}

/// Mapping of an axis from values to positions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scale {
    Linear,
    /// Base-10 logarithmic; every value on this axis must be positive.
    Log,
}

/// Corner of the plot area that holds the legend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Corner {
    UpperLeft,
    UpperRight,
    LowerLeft,
    LowerRight,
}

/// One line of a chart, drawn with a marker at each point.
#[derive(Debug, Clone)]
pub struct Series {
    pub label: String,
    pub points: Vec<(f64, f64)>,
    /// Drawn dashed, for reference lines such as a fitted slope.
    pub dashed: bool,
}

/// A line chart with a legend.
#[derive(Debug, Clone)]
pub struct Chart {
    title: String,
    x_label: String,
    y_label: String,
    x_scale: Scale,
    y_scale: Scale,
    x_ticks: Option<Vec<f64>>,
    y_range: Option<(f64, f64)>,
    series: Vec<Series>,
    size: (u32, u32),
    legend: Corner,
}

impl Chart {
    /// Creates a chart of 720 × 440 px with linear axes. `title` is not drawn, because
    /// the page's caption shows it. It names the SVG for assistive technology.
    pub fn new(title: &str, x_label: &str, y_label: &str) -> Self {
        Self {
            title: title.to_string(),
            x_label: x_label.to_string(),
            y_label: y_label.to_string(),
            x_scale: Scale::Linear,
            y_scale: Scale::Linear,
            x_ticks: None,
            y_range: None,
            series: Vec::new(),
            size: (720, 440),
            legend: Corner::UpperRight,
        }
    }

    pub fn log_x(mut self) -> Self {
        self.x_scale = Scale::Log;
        self
    }

    pub fn log_y(mut self) -> Self {
        self.y_scale = Scale::Log;
        self
    }

    /// Labels the x axis at exactly these values (for example the measured lengths).
    pub fn x_ticks(mut self, ticks: impl IntoIterator<Item = f64>) -> Self {
        self.x_ticks = Some(ticks.into_iter().collect());
        self
    }

    /// Fixes the y range instead of fitting it to the data.
    pub fn y_range(mut self, low: f64, high: f64) -> Self {
        self.y_range = Some((low, high));
        self
    }

    /// Moves the legend (upper right by default) off the lines it would hide.
    pub fn legend(mut self, corner: Corner) -> Self {
        self.legend = corner;
        self
    }

    pub fn size(mut self, width: u32, height: u32) -> Self {
        self.size = (width, height);
        self
    }

    /// Adds a solid line. Colours follow the order in which series are added.
    pub fn series(mut self, label: &str, points: impl IntoIterator<Item = (f64, f64)>) -> Self {
        self.series.push(Series {
            label: label.to_string(),
            points: points.into_iter().collect(),
            dashed: false,
        });
        self
    }

    /// Adds a dashed line in the colour of the series added just before it.
    pub fn reference(mut self, label: &str, points: impl IntoIterator<Item = (f64, f64)>) -> Self {
        self.series.push(Series {
            label: label.to_string(),
            points: points.into_iter().collect(),
            dashed: true,
        });
        self
    }

    /// Writes the chart to `path` as SVG.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<(), PlotError> {
        let path = path.as_ref();
        let svg = self.to_svg()?;
        std::fs::write(path, svg).map_err(|source| PlotError::Write {
            path: path.display().to_string(),
            source,
        })
    }

    /// Renders the chart as an SVG document.
    pub fn to_svg(&self) -> Result<String, PlotError> {
        let (x_low, x_high) = self.extent(|point| point.0, self.x_scale, None)?;
        let (y_low, y_high) = self.extent(|point| point.1, self.y_scale, self.y_range)?;
        let mut svg = String::new();
        {
            let root = SVGBackend::with_string(&mut svg, self.size).into_drawing_area();
            let x_ticks = self.x_ticks.clone();
            let linear = |low: f64, high: f64| RangedCoordf64::from(low..high);
            let log = |low: f64, high: f64| LogCoord::from((low..high).log_scale());
            let drawn = match (self.x_scale, self.y_scale) {
                (Scale::Linear, Scale::Linear) => self.draw(
                    &root,
                    keyed(linear(x_low, x_high), x_ticks),
                    keyed(linear(y_low, y_high), None),
                ),
                (Scale::Log, Scale::Linear) => self.draw(
                    &root,
                    keyed_log(log(x_low, x_high), x_ticks),
                    keyed(linear(y_low, y_high), None),
                ),
                (Scale::Linear, Scale::Log) => self.draw(
                    &root,
                    keyed(linear(x_low, x_high), x_ticks),
                    keyed_log(log(y_low, y_high), None),
                ),
                (Scale::Log, Scale::Log) => self.draw(
                    &root,
                    keyed_log(log(x_low, x_high), x_ticks),
                    keyed_log(log(y_low, y_high), None),
                ),
            };
            drawn.map_err(|message| PlotError::Drawing {
                title: self.title.clone(),
                message,
            })?;
            root.present().map_err(|error| PlotError::Drawing {
                title: self.title.clone(),
                message: error.to_string(),
            })?;
        }
        Ok(self.decorate(svg))
    }

    /// Computes the data range of one coordinate, padded a little (by a factor on a log
    /// scale). Rejects empty charts, non-finite values and non-positive values on a
    /// log axis.
    fn extent(
        &self,
        coordinate: impl Fn(&(f64, f64)) -> f64,
        scale: Scale,
        fixed: Option<(f64, f64)>,
    ) -> Result<(f64, f64), PlotError> {
        let invalid = |message: String| PlotError::Invalid {
            title: self.title.clone(),
            message,
        };
        let values: Vec<f64> = self
            .series
            .iter()
            .flat_map(|series| series.points.iter().map(&coordinate))
            .collect();
        if values.is_empty() {
            return Err(invalid("the chart has no points".into()));
        }
        if let Some(bad) = values.iter().find(|value| !value.is_finite()) {
            return Err(invalid(format!("a point has the non-finite value {bad}")));
        }
        if scale == Scale::Log {
            if let Some(bad) = values.iter().find(|value| **value <= 0.0) {
                return Err(invalid(format!(
                    "a logarithmic axis cannot show the value {bad}"
                )));
            }
        }
        if let Some((low, high)) = fixed {
            if !(low < high) || (scale == Scale::Log && low <= 0.0) {
                return Err(invalid(format!("invalid axis range {low}..{high}")));
            }
            return Ok((low, high));
        }
        let low = values.iter().copied().fold(f64::INFINITY, f64::min);
        let high = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        Ok(match scale {
            Scale::Log => (low / 1.15, high * 1.15),
            Scale::Linear if low == high => (low - 1.0, high + 1.0),
            Scale::Linear => {
                let pad = (high - low) * 0.05;
                (low - pad, high + pad)
            }
        })
    }

    fn draw<X, Y>(
        &self,
        root: &DrawingArea<SVGBackend<'_>, Shift>,
        x: X,
        y: Y,
    ) -> Result<(), String>
    where
        X: Ranged<ValueType = f64> + ValueFormatter<f64>,
        Y: Ranged<ValueType = f64> + ValueFormatter<f64>,
    {
        let font = |size: u32| (FONT, size).into_font().color(&INK);
        let mut chart = ChartBuilder::on(root)
            .margin(16)
            .x_label_area_size(52)
            .y_label_area_size(76)
            .build_cartesian_2d(x, y)
            .map_err(|error| error.to_string())?;
        chart
            .configure_mesh()
            .x_desc(self.x_label.as_str())
            .y_desc(self.y_label.as_str())
            .axis_desc_style(font(21))
            .label_style(font(18))
            .axis_style(INK)
            .bold_line_style(GRID)
            .light_line_style(TRANSPARENT)
            .x_label_formatter(&|value| format_number(*value))
            .y_label_formatter(&|value| format_number(*value))
            .draw()
            .map_err(|error| error.to_string())?;

        let mut colour = 0;
        for (index, series) in self.series.iter().enumerate() {
            if !series.dashed && index > 0 {
                colour = (colour + 1) % PALETTE.len();
            }
            let stroke = PALETTE[colour].0;
            let style = ShapeStyle::from(stroke).stroke_width(2);
            let points = series.points.clone();
            let drawn = if series.dashed {
                chart.draw_series(DashedLineSeries::new(points.clone(), 8, 6, style))
            } else {
                chart.draw_series(LineSeries::new(points.clone(), style))
            }
            .map_err(|error| error.to_string())?;
            drawn.label(series.label.as_str()).legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 22, y)], style)
            });
            if !series.dashed {
                chart
                    .draw_series(
                        points
                            .into_iter()
                            .map(|point| Circle::new(point, 3, stroke.filled())),
                    )
                    .map_err(|error| error.to_string())?;
            }
        }
        chart
            .configure_series_labels()
            .position(match self.legend {
                Corner::UpperLeft => SeriesLabelPosition::UpperLeft,
                Corner::UpperRight => SeriesLabelPosition::UpperRight,
                Corner::LowerLeft => SeriesLabelPosition::LowerLeft,
                Corner::LowerRight => SeriesLabelPosition::LowerRight,
            })
            .label_font(font(18))
            .background_style(PAPER.mix(0.85))
            .border_style(INK)
            .draw()
            .map_err(|error| error.to_string())
    }

    /// Adds the accessible title and the dark-scheme colours. CSS rules outrank the
    /// presentation attributes plotters writes, so attribute selectors can recolour them.
    fn decorate(&self, svg: String) -> String {
        let Some(open_end) = svg.find("<svg").and_then(|start| svg[start..].find('>').map(|end| start + end + 1)) else {
            return svg;
        };
        let colour = |c: RGBColor| format!("#{:02X}{:02X}{:02X}", c.0, c.1, c.2);
        let mut dark = format!(
            "[stroke=\"{ink}\"]{{stroke:#e8eaed}}[fill=\"{ink}\"]{{fill:#e8eaed}}\
             [stroke=\"{grid}\"]{{stroke:#3c4043}}\
             [fill=\"{paper}\"]{{fill:#202327}}",
            ink = colour(INK),
            grid = colour(GRID),
            paper = colour(PAPER),
        );
        for (light, dark_colour) in PALETTE {
            let light = colour(light);
            dark.push_str(&format!(
                "[stroke=\"{light}\"]{{stroke:{dark_colour}}}[fill=\"{light}\"]{{fill:{dark_colour}}}"
            ));
        }
        let mut title = String::new();
        for ch in self.title.chars() {
            match ch {
                '<' => title.push_str("&lt;"),
                '>' => title.push_str("&gt;"),
                '&' => title.push_str("&amp;"),
                _ => title.push(ch),
            }
        }
        let head = format!(
            "\n<title>{title}</title>\n<style>@media screen and (prefers-color-scheme: dark){{{dark}}}</style>"
        );
        let mut out = svg;
        out.insert_str(open_end, &head);
        out
    }
}

/// Binds explicit key points to a range when ticks are given.
fn keyed<R: Ranged<ValueType = f64>>(range: R, ticks: Option<Vec<f64>>) -> KeyedRange<R> {
    KeyedRange { range, ticks, log: false }
}

/// Binds explicit key points to a logarithmic range, or 1-2-5 steps when none are given.
fn keyed_log(range: LogCoord<f64>, ticks: Option<Vec<f64>>) -> KeyedRange<LogCoord<f64>> {
    KeyedRange { range, ticks, log: true }
}

/// A range whose labelled values are either its own or a fixed list.
struct KeyedRange<R> {
    range: R,
    ticks: Option<Vec<f64>>,
    log: bool,
}

impl<R: Ranged<ValueType = f64>> Ranged for KeyedRange<R> {
    type FormatOption = plotters::coord::ranged1d::NoDefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        self.range.map(value, limit)
    }

    fn key_points<Hint: plotters::coord::ranged1d::KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        match &self.ticks {
            Some(ticks) => ticks.clone(),
            None if self.log => log_ticks(self.range.range()),
            None => self.range.key_points(hint),
        }
    }

    fn range(&self) -> std::ops::Range<f64> {
        self.range.range()
    }

    fn axis_pixel_range(&self, limit: (i32, i32)) -> std::ops::Range<i32> {
        self.range.axis_pixel_range(limit)
    }
}

impl<R: Ranged<ValueType = f64>> ValueFormatter<f64> for KeyedRange<R> {
    fn format(value: &f64) -> String {
        format_number(*value)
    }
}

/// Ticks of a logarithmic axis: 1, 2 and 5 times the powers of ten in `range`, or
/// only the powers of ten when the range spans more than three decades.
fn log_ticks(range: std::ops::Range<f64>) -> Vec<f64> {
    let (low, high) = (range.start, range.end);
    let decades = (high / low).log10();
    let steps: &[f64] = if decades > 3.0 { &[1.0] } else { &[1.0, 2.0, 5.0] };
    let mut ticks = Vec::new();
    let mut power = 10f64.powi(low.log10().floor() as i32);
    while power <= high {
        for step in steps {
            let tick = power * step;
            if tick >= low && tick <= high {
                ticks.push(tick);
            }
        }
        power *= 10.0;
    }
    ticks
}

/// Axis numbers: integers without decimals, small values with 2 significant digits.
pub fn format_number(value: f64) -> String {
    let magnitude = value.abs();
    if magnitude == 0.0 {
        "0".into()
    } else if magnitude >= 1.0 && value.fract() == 0.0 && magnitude < 1e7 {
        format!("{value:.0}")
    } else if magnitude >= 100.0 {
        format!("{value:.0}")
    } else if magnitude >= 0.01 {
        let decimals = (1 - magnitude.log10().floor() as i32).max(0) as usize;
        let text = format!("{value:.decimals$}");
        if text.contains('.') {
            text.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            text
        }
    } else {
        format!("{value:.1e}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn svg_has_labels_title_and_dark_scheme() {
        let svg = Chart::new("誤差 & 長さ", "ランドマーク数", "相対誤差")
            .log_x()
            .log_y()
            .x_ticks([16.0, 64.0, 256.0])
            .series("Skyformer", [(16.0, 0.3), (64.0, 0.1), (256.0, 0.02)])
            .reference("傾き −1", [(16.0, 0.3), (256.0, 0.3 / 16.0)])
            .series("Nyströmformer", [(16.0, 0.5), (64.0, 0.4), (256.0, 0.3)])
            .to_svg()
            .unwrap();
        assert!(svg.contains("<title>誤差 &amp; 長さ</title>"), "{svg}");
        assert!(svg.contains("ランドマーク数"), "x label missing");
        assert!(svg.contains("相対誤差"), "y label missing");
        assert!(svg.contains("Nyströmformer"), "legend missing");
        assert!(svg.contains("prefers-color-scheme: dark"));
        // Every series colour drawn has a dark-scheme replacement.
        for (light, dark) in PALETTE.iter().take(2) {
            let light = format!("#{:02X}{:02X}{:02X}", light.0, light.1, light.2);
            assert!(svg.contains(&format!("stroke=\"{light}\"")), "{light} not drawn");
            assert!(svg.contains(dark));
        }
        // The tick labels are the requested values.
        assert!(svg.contains("\n256\n"), "{svg}");
        assert!(svg.contains("\n64\n"), "{svg}");
        // No background rectangle: the page shows through.
        assert!(!svg.contains("fill=\"#FFFFFF\" opacity=\"1\""));
    }

    #[test]
    fn bad_points_are_errors_not_panics() {
        let log_zero = Chart::new("t", "x", "y")
            .log_y()
            .series("a", [(1.0, 0.0)])
            .to_svg();
        assert!(matches!(log_zero, Err(PlotError::Invalid { .. })), "{log_zero:?}");
        let empty = Chart::new("t", "x", "y").to_svg();
        assert!(matches!(empty, Err(PlotError::Invalid { .. })));
        let nan = Chart::new("t", "x", "y").series("a", [(1.0, f64::NAN)]).to_svg();
        assert!(nan.unwrap_err().to_string().contains("non-finite"));
    }

    #[test]
    fn numbers_are_short() {
        assert_eq!(format_number(1024.0), "1024");
        assert_eq!(format_number(0.25), "0.25");
        assert_eq!(format_number(0.5), "0.5");
        assert_eq!(format_number(3.0), "3");
        assert_eq!(format_number(0.001), "1.0e-3");
    }

    #[test]
    fn log_ticks_follow_one_two_five() {
        assert_eq!(log_ticks(0.015..0.6), vec![0.02, 0.05, 0.1, 0.2, 0.5]);
        assert_eq!(log_ticks(0.5..20000.0), vec![1.0, 10.0, 100.0, 1000.0, 10000.0]);
    }
}
