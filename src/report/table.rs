//! Plain-text tables and ANSI colour for the terminal views. Whether to colour at all is
//! the caller's choice (the command line checks for a terminal and `NO_COLOR`).

/// Wraps text in an ANSI colour when `on`.
pub fn paint(text: &str, colour: Colour, on: bool) -> String {
    if !on {
        return text.to_string();
    }
    let code = match colour {
        Colour::Green => "32",
        Colour::Red => "31",
        Colour::Yellow => "33",
        Colour::Dim => "2",
        Colour::Bold => "1",
    };
    format!("\x1b[{code}m{text}\x1b[0m")
}

/// The few colours reprobe uses.
#[derive(Debug, Clone, Copy)]
pub enum Colour {
    /// Good news.
    Green,
    /// Failures and findings.
    Red,
    /// Warnings and cache hits.
    Yellow,
    /// Secondary detail.
    Dim,
    /// Headers.
    Bold,
}

/// A left-aligned table; cells may carry ANSI colour (width is measured without it).
pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column headers.
    pub fn new(header: &[&str]) -> Table {
        Table {
            header: header.iter().map(|h| h.to_string()).collect(),
            rows: Vec::new(),
        }
    }

    /// Adds a row.
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// Renders with comfy-table: no borders, two spaces between columns, no trailing
    /// spaces, ANSI colour in cells not counted in widths, never wrapped (a table
    /// piped to a file or a CI log keeps one row per line).
    pub fn render(&self) -> String {
        let mut table = comfy_table::Table::new();
        table
            .load_preset(comfy_table::presets::NOTHING)
            .set_content_arrangement(comfy_table::ContentArrangement::Disabled)
            .set_header(self.header.clone());
        for row in &self.rows {
            table.add_row(row.iter().take(self.header.len()).cloned());
        }
        let last = self.header.len().saturating_sub(1);
        for (i, column) in table.column_iter_mut().enumerate() {
            column.set_padding((0, if i == last { 0 } else { 2 }));
        }
        let mut out = String::new();
        for line in table.lines() {
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_align_ignoring_colour() {
        let mut t = Table::new(&["A", "B"]);
        t.row(vec![paint("xx", Colour::Red, true), "y".into()]);
        t.row(vec!["xxxx".into(), "z".into()]);
        let text = t.render();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "A     B");
        assert_eq!(lines[2], "xxxx  z");
        assert!(lines[1].ends_with("xx\x1b[0m    y"));
    }

    #[test]
    fn long_cells_are_never_wrapped() {
        let mut t = Table::new(&["STEP", "REASONS"]);
        let long = "x".repeat(300);
        t.row(vec!["a".into(), long.clone()]);
        let text = t.render();
        assert_eq!(text.lines().count(), 2, "{text}");
        assert_eq!(text.lines().nth(1), Some(format!("a     {long}").as_str()));
    }
}
