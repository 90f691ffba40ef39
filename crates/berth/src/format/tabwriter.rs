//! Go's `text/tabwriter` as Docker's tables use it (`NewWriter(out, 10, 1, 3, ' ', 0)`):
//! tab-terminated cells aligned in column blocks, each column at least 10 wide and 3 wider
//! than its widest cell; the text after a line's last tab is not aligned.

/// The minimum width of a column.
const MIN_WIDTH: usize = 10;
/// The spaces after a column's widest cell.
const PADDING: usize = 3;

/// Aligns `text` as Docker's tables are aligned.
pub fn align(text: &str) -> String {
    let lines: Vec<Vec<&str>> = text.split('\n').map(|l| l.split('\t').collect()).collect();
    let mut out = String::with_capacity(text.len() * 2);
    let mut widths = Vec::new();
    format(&lines, 0, lines.len(), &mut widths, &mut out);
    // Lines were joined by '\n' when written.
    out.pop();
    out
}

/// Go's `Writer.format`: the blocks of column `widths.len()` in lines `line0..line1`.
fn format(
    lines: &[Vec<&str>],
    mut line0: usize,
    line1: usize,
    widths: &mut Vec<usize>,
    out: &mut String,
) {
    let column = widths.len();
    let mut this = line0;
    while this < line1 {
        if column + 1 >= lines[this].len() {
            this += 1;
            continue;
        }
        write_lines(lines, line0, this, widths, out);
        line0 = this;
        let mut width = MIN_WIDTH;
        while this < line1 && column + 1 < lines[this].len() {
            width = width.max(lines[this][column].chars().count() + PADDING);
            this += 1;
        }
        widths.push(width);
        format(lines, line0, this, widths, out);
        widths.pop();
        line0 = this;
    }
    write_lines(lines, line0, line1, widths, out);
}

fn write_lines(
    lines: &[Vec<&str>],
    line0: usize,
    line1: usize,
    widths: &[usize],
    out: &mut String,
) {
    for line in &lines[line0..line1] {
        for (j, cell) in line.iter().enumerate() {
            out.push_str(cell);
            if j + 1 < line.len() {
                let width = widths.get(j).copied().unwrap_or(0);
                let len = cell.chars().count();
                out.extend(std::iter::repeat_n(' ', width.saturating_sub(len)));
            }
        }
        out.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use super::align;

    #[test]
    fn columns_are_ten_wide_at_least_and_three_past_their_widest_cell() {
        assert_eq!(
            align("CONTAINER ID\tNAMES\nabc\tweb\n"),
            "CONTAINER ID   NAMES\nabc            web\n"
        );
        assert_eq!(
            align("A\tB\tC\nx\ty\tz\n"),
            "A         B         C\nx         y         z\n"
        );
        // A line without the column ends its block.
        assert_eq!(
            align("aaaaaaaaaaaaa\tb\nno tab\nc\td"),
            "aaaaaaaaaaaaa   b\nno tab\nc         d"
        );
    }
}
