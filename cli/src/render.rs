//! Text for a terminal: values escaped so that a visitor cannot drive the operator's terminal,
//! tables aligned by display width, dates that say which day, and sparklines with gaps.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use unicode_width::UnicodeWidthStr;

/// Whether a character must not reach a terminal as it is: C0 and C1 control characters
/// (escape sequences, OSC 52 clipboard writes, carriage returns that overwrite a line), DEL,
/// the bidirectional controls that reorder what is shown (U+202E turns `txt.exe` into
/// `exe.txt`), and the invisible characters that would make two different values look the
/// same (zero-width spaces and joiners, the soft hyphen, word joiners, the byte-order mark,
/// line and paragraph separators, Hangul fillers, tag characters). Variation selectors stay:
/// they only change how an emoji is drawn.
fn is_dangerous(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{00AD}'
                | '\u{061C}'
                | '\u{115F}'
                | '\u{1160}'
                | '\u{180E}'
                | '\u{200B}'..='\u{200F}'
                | '\u{2028}'..='\u{202E}'
                | '\u{2060}'..='\u{206F}'
                | '\u{3164}'
                | '\u{FEFF}'
                | '\u{FFA0}'
                | '\u{FFF9}'..='\u{FFFB}'
                | '\u{E0000}'..='\u{E007F}'
        )
}

/// A value as it may be printed: dangerous characters as `\u{..}` and backslashes doubled, so
/// that two different values do not print the same (but for variation selectors).
pub(crate) fn clean(text: &str) -> Cow<'_, str> {
    if !text.chars().any(|c| is_dangerous(c) || c == '\\') {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if c == '\\' {
            out.push_str("\\\\");
        } else if is_dangerous(c) {
            let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// A message of several lines: each line cleaned, the line breaks kept.
pub(crate) fn clean_lines(text: &str) -> String {
    text.lines().map(clean).collect::<Vec<_>>().join("\n")
}

/// JSON text with every dangerous character escaped as `\uXXXX` (serde_json escapes C0 but
/// writes DEL, C1 and the bidirectional controls as they are). They only occur inside strings,
/// where `\uXXXX` means the same character, so the document is unchanged.
pub(crate) fn json(value: &serde_json::Value) -> String {
    let text = value.to_string();
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if is_dangerous(c) && !matches!(c, '\n' | '\r' | '\t') {
            let _ = write!(out, "\\u{:04x}", u32::from(c));
        } else {
            out.push(c);
        }
    }
    out
}

/// How many terminal columns `text` takes (wide CJK characters take two).
pub(crate) fn width(text: &str) -> usize {
    UnicodeWidthStr::width(text)
}

/// Columns padded to their widest cell (by display width), separated by two spaces. Cells
/// are printed as given: clean them first.
pub(crate) fn table(header: &[String], rows: &[Vec<String>]) -> String {
    let widths: Vec<usize> = (0..header.len())
        .map(|i| {
            rows.iter()
                .filter_map(|r| r.get(i))
                .chain([&header[i]])
                .map(|cell| width(cell))
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in std::iter::once(header).chain(rows.iter().map(Vec::as_slice)) {
        let mut line = String::new();
        for (i, (cell, w)) in row.iter().zip(&widths).enumerate() {
            if i > 0 {
                line.push_str("  ");
            }
            line.push_str(cell);
            line.extend(std::iter::repeat_n(' ', w.saturating_sub(width(cell))));
        }
        let _ = writeln!(out, "{}", line.trim_end());
    }
    out
}

/// The UTC calendar date and time of a moment: (year, month, day, hour, minute, second).
fn civil(t: SystemTime) -> (i64, u32, u32, u64, u64, u64) {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let days = (secs / 86_400) as i64;
    // Days to a civil date (Howard Hinnant's algorithm, proleptic Gregorian).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (
        year,
        month,
        day,
        secs / 3600 % 24,
        secs / 60 % 60,
        secs % 60,
    )
}

/// `2026-11-28 19:04 UTC`.
pub(crate) fn minute(t: SystemTime) -> String {
    let (y, mo, d, h, mi, _) = civil(t);
    format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02} UTC")
}

/// `19:04:05` when `t` is on the same UTC day as `now`, else `2026-11-27 19:04:05`.
pub(crate) fn moment(t: SystemTime, now: SystemTime) -> String {
    let (y, mo, d, h, mi, s) = civil(t);
    let (ny, nmo, nd, ..) = civil(now);
    if (y, mo, d) == (ny, nmo, nd) {
        format!("{h:02}:{mi:02}:{s:02}")
    } else {
        format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}")
    }
}

/// A span for a person: `90 s`, `30 min`, `1 h`, `7 d`, or the largest unit that divides it.
pub(crate) fn span(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        s if s % 86_400 == 0 => format!("{} d", s / 86_400),
        s if s % 3600 == 0 => format!("{} h", s / 3600),
        s if s % 60 == 0 => format!("{} min", s / 60),
        s => format!("{s} s"),
    }
}

const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

/// At most this many columns in a sparkline; longer spans put several minutes in a column.
pub(crate) const SPARK_COLUMNS: u64 = 120;

/// A sparkline of per-minute values over `[from, to)` (milliseconds), one column per
/// `per_column` minutes holding the highest value in it, and a space where no minute was
/// sampled: a gap shows as a gap. Returns the line and the minutes per column.
pub(crate) fn sparkline(points: &[(u64, u64)], from: u64, to: u64) -> (String, u64) {
    let minutes = to.saturating_sub(from).div_ceil(60_000).max(1);
    let per_column = minutes.div_ceil(SPARK_COLUMNS).max(1);
    let columns = minutes.div_ceil(per_column) as usize;
    let mut cells: Vec<Option<u64>> = vec![None; columns];
    for &(at, value) in points {
        if at < from || at >= to {
            continue;
        }
        let column = ((at - from) / 60_000 / per_column) as usize;
        if let Some(cell) = cells.get_mut(column) {
            *cell = Some(cell.map_or(value, |v| v.max(value)));
        }
    }
    let max = cells.iter().flatten().copied().max().unwrap_or(0).max(1);
    let line = cells
        .iter()
        .map(|cell| match cell {
            None => ' ',
            Some(v) => BARS[((v * 7).div_ceil(max)) as usize],
        })
        .collect();
    (line, per_column)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_what_would_drive_a_terminal() {
        assert_eq!(clean("alice"), "alice");
        assert_eq!(clean("日本語"), "日本語");
        assert_eq!(clean("\u{1b}[2J"), "\\u{1b}[2J");
        assert_eq!(
            clean("\u{1b}]52;c;aGk=\u{7}"),
            "\\u{1b}]52;c;aGk=\\u{7}",
            "OSC 52"
        );
        assert_eq!(clean("txt\u{202e}exe"), "txt\\u{202e}exe");
        assert_eq!(clean("a\r\nb\u{9b}"), "a\\u{d}\\u{a}b\\u{9b}");
        assert_eq!(
            clean("\\u{1b}"),
            "\\\\u{1b}",
            "a literal escape stays different"
        );
        assert_eq!(
            clean("bill\u{200b}ing"),
            "bill\\u{200b}ing",
            "zero-width space"
        );
        assert_eq!(clean("a\u{2028}b\u{feff}"), "a\\u{2028}b\\u{feff}");
        assert_eq!(
            clean("👍\u{fe0f}"),
            "👍\u{fe0f}",
            "variation selectors stay"
        );
        let doc = serde_json::json!({ "v": "a\u{202e}b\u{7f}\u{1b}" });
        let text = json(&doc);
        assert!(text.is_ascii(), "{text}");
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&text).expect("JSON"),
            doc
        );
    }

    #[test]
    fn tables_align_by_display_width() {
        let header = vec!["name".to_owned(), "n".to_owned()];
        let rows = vec![
            vec!["日本".to_owned(), "1".to_owned()],
            vec!["abcdef".to_owned(), "2".to_owned()],
        ];
        let text = table(&header, &rows);
        let columns: Vec<usize> = text
            .lines()
            .map(|line| width(&line[..line.rfind(' ').expect("two columns") + 1]))
            .collect();
        assert_eq!(columns, [8, 8, 8], "{text}");
    }

    #[test]
    fn dates_are_utc_calendar_dates() {
        let t = UNIX_EPOCH + Duration::from_secs(1_795_892_645); // 2026-11-28 19:04:05 UTC
        assert_eq!(minute(t), "2026-11-28 19:04 UTC");
        assert_eq!(moment(t, t + Duration::from_secs(60)), "19:04:05");
        assert_eq!(
            moment(t, t + Duration::from_secs(86_400)),
            "2026-11-28 19:04:05"
        );
        assert_eq!(
            minute(UNIX_EPOCH + Duration::from_secs(951_782_400)),
            "2000-02-29 00:00 UTC"
        );
        assert_eq!(span(Duration::from_secs(7 * 86_400)), "7 d");
        assert_eq!(span(Duration::from_secs(90)), "90 s");
    }

    #[test]
    fn sparklines_show_gaps() {
        let from = 1_800_000_000_000 / 60_000 * 60_000;
        let points = [(from, 4), (from + 60_000, 8), (from + 4 * 60_000, 2)];
        let (line, per) = sparkline(&points, from, from + 5 * 60_000);
        assert_eq!(per, 1);
        assert_eq!(line, "▅█  ▃");
        let (line, per) = sparkline(&points, from, from + 24 * 3_600_000);
        assert_eq!(per, 12);
        assert_eq!(line.chars().count(), 120);
        assert!(line.starts_with('█'));
    }
}
