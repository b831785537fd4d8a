//! A drawn screen as an SVG picture: one monospace `<text>` per row with a
//! `<tspan>` per run of cells in one colour, and a `<rect>` per run of one
//! background. The README's picture of the screen is made with this
//! (`cargo run --no-default-features --example screenshot`).
use std::fmt::Write;

use ratatui::buffer::Buffer;
use ratatui::style::{Color, Modifier};

/// Cell size in pixels.
const CELL_W: f64 = 8.4;
const CELL_H: f64 = 17.0;

/// `#rrggbb` for a colour; `reset` becomes `default`.
fn hex(c: Color, default: &str) -> String {
    let ansi = |i: u8| -> (u8, u8, u8) {
        const BASE: [(u8, u8, u8); 16] = [
            (0, 0, 0),
            (205, 49, 49),
            (13, 188, 121),
            (229, 229, 16),
            (36, 114, 200),
            (188, 63, 188),
            (17, 168, 205),
            (229, 229, 229),
            (102, 102, 102),
            (241, 76, 76),
            (35, 209, 139),
            (245, 245, 67),
            (59, 142, 234),
            (214, 112, 214),
            (41, 184, 219),
            (255, 255, 255),
        ];
        if i < 16 {
            BASE[i as usize]
        } else if i < 232 {
            let k = i - 16;
            let v = |x: u8| if x == 0 { 0 } else { 55 + x * 40 };
            (v(k / 36), v((k / 6) % 6), v(k % 6))
        } else {
            let g = 8 + (i - 232) * 10;
            (g, g, g)
        }
    };
    let (r, g, b) = match c {
        Color::Reset => return default.to_string(),
        Color::Rgb(r, g, b) => (r, g, b),
        Color::Indexed(i) => ansi(i),
        Color::Black => ansi(0),
        Color::Red => ansi(1),
        Color::Green => ansi(2),
        Color::Yellow => ansi(3),
        Color::Blue => ansi(4),
        Color::Magenta => ansi(5),
        Color::Cyan => ansi(6),
        Color::Gray => ansi(7),
        Color::DarkGray => ansi(8),
        Color::LightRed => ansi(9),
        Color::LightGreen => ansi(10),
        Color::LightYellow => ansi(11),
        Color::LightBlue => ansi(12),
        Color::LightMagenta => ansi(13),
        Color::LightCyan => ansi(14),
        Color::White => ansi(15),
    };
    format!("#{r:02x}{g:02x}{b:02x}")
}

fn escape(s: &str, out: &mut String) {
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            _ => out.push(ch),
        }
    }
}

/// The buffer as an SVG document; `fg` and `bg` stand in for the
/// terminal's default colours.
pub fn buffer_to_svg(buf: &Buffer, fg: &str, bg: &str) -> String {
    let (w, h) = (buf.area.width, buf.area.height);
    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{:.0}" height="{:.0}" viewBox="0 0 {:.0} {:.0}" font-family="DejaVu Sans Mono, Menlo, Consolas, monospace" font-size="14">"#,
        w as f64 * CELL_W,
        h as f64 * CELL_H,
        w as f64 * CELL_W,
        h as f64 * CELL_H
    );
    let _ = writeln!(out, r#"<rect width="100%" height="100%" fill="{bg}"/>"#);
    for y in 0..h {
        // Background runs.
        let mut x = 0;
        while x < w {
            let c = hex(buf[(x, y)].bg, bg);
            let start = x;
            while x < w && hex(buf[(x, y)].bg, bg) == c {
                x += 1;
            }
            if c != bg {
                let _ = writeln!(
                    out,
                    r#"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="{CELL_H}" fill="{c}"/>"#,
                    start as f64 * CELL_W,
                    y as f64 * CELL_H,
                    (x - start) as f64 * CELL_W
                );
            }
        }
        // Text runs: one tspan per colour and emphasis, placed by column.
        let base = y as f64 * CELL_H + CELL_H * 0.78;
        let _ = write!(out, r#"<text y="{base:.1}" xml:space="preserve">"#);
        let mut x = 0;
        while x < w {
            let cell = &buf[(x, y)];
            let key = (hex(cell.fg, fg), cell.modifier.contains(Modifier::BOLD));
            let start = x;
            let mut text = String::new();
            while x < w {
                let c = &buf[(x, y)];
                if (hex(c.fg, fg), c.modifier.contains(Modifier::BOLD)) != key {
                    break;
                }
                text.push_str(c.symbol());
                x += 1;
            }
            if text.trim().is_empty() {
                continue;
            }
            let _ = write!(
                out,
                r#"<tspan x="{:.1}" textLength="{:.1}" lengthAdjust="spacingAndGlyphs" fill="{}"{}>"#,
                start as f64 * CELL_W,
                (x - start) as f64 * CELL_W,
                key.0,
                if key.1 { r#" font-weight="bold""# } else { "" }
            );
            escape(&text, &mut out);
            out.push_str("</tspan>");
        }
        out.push_str("</text>\n");
    }
    out.push_str("</svg>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use ratatui::layout::Rect;
    use ratatui::style::Style;

    #[test]
    fn cells_become_coloured_runs_in_valid_svg() {
        let mut buf = Buffer::empty(Rect::new(0, 0, 10, 2));
        buf.set_string(0, 0, "a<b", Style::new().fg(Color::Rgb(255, 0, 0)));
        buf.set_string(
            3,
            0,
            "cd",
            Style::new().fg(Color::Indexed(21)).bg(Color::Blue),
        );
        let svg = buffer_to_svg(&buf, "#d0d0d0", "#1c1c1c");
        let doc = roxmltree::Document::parse(&svg).expect("valid XML");
        let spans: Vec<_> = doc
            .descendants()
            .filter(|n| n.has_tag_name("tspan"))
            .map(|n| (n.attribute("fill").unwrap(), n.text().unwrap_or("")))
            .collect();
        assert_eq!(spans[0], ("#ff0000", "a<b"));
        assert_eq!(spans[1].0, "#0000ff");
        assert!(spans[1].1.starts_with("cd"));
        assert!(svg.contains(r##"fill="#2472c8""##), "{svg}");
    }
}
