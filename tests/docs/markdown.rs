//! Just enough Markdown for the documentation checks: fenced code blocks, the links written
//! outside code, and the anchors GitHub gives headings (github-slugger's rule), so a link
//! `page.md#a-heading` can be checked without a network or a Markdown crate.

use std::collections::BTreeSet;

/// A fenced code block: its info string (`nginx`, `toml`, …), its text with the fence's
/// indentation removed, and the line its fence opens on (1-based).
pub(crate) struct Block {
    pub info: String,
    pub body: String,
    pub line: usize,
}

/// A link or image target written in prose, and its line (1-based).
pub(crate) struct Link {
    pub target: String,
    pub line: usize,
}

/// One line of a file: outside any fence (`None`) or inside the block opened at that index.
enum Line<'a> {
    Prose(&'a str),
    Fence,
    Code(&'a str, usize),
}

/// An opening or closing fence: its character, its length, its indentation and its info.
fn fence(line: &str) -> Option<(char, usize, usize, &str)> {
    let indent = line.len() - line.trim_start_matches(' ').len();
    let rest = &line[indent..];
    let mark = rest.chars().next().filter(|c| *c == '`' || *c == '~')?;
    let count = rest.chars().take_while(|c| *c == mark).count();
    // Fences inside list items are indented with the item's text, so more than CommonMark's
    // three spaces at the top level are allowed.
    (count >= 3 && indent < 8).then(|| (mark, count, indent, rest[count..].trim()))
}

fn classify(text: &str) -> Vec<Line<'_>> {
    let mut open: Option<(char, usize, usize)> = None;
    text.lines()
        .map(|line| match (open, fence(line)) {
            (None, Some((mark, count, indent, _))) => {
                open = Some((mark, count, indent));
                Line::Fence
            }
            (Some((mark, count, _)), Some((m, c, _, info)))
                if m == mark && c >= count && info.is_empty() =>
            {
                open = None;
                Line::Fence
            }
            (Some((_, _, indent)), _) => Line::Code(line, indent),
            (None, None) => Line::Prose(line),
        })
        .collect()
}

/// Every fenced code block of `text`.
pub(crate) fn code_blocks(text: &str) -> Vec<Block> {
    let mut blocks: Vec<Block> = Vec::new();
    let mut inside = false;
    for (i, (line, raw)) in classify(text).into_iter().zip(text.lines()).enumerate() {
        match line {
            Line::Fence if !inside => {
                let info = fence(raw).map(|(_, _, _, info)| info).unwrap_or_default();
                blocks.push(Block {
                    info: info.split_whitespace().next().unwrap_or("").to_owned(),
                    body: String::new(),
                    line: i + 1,
                });
                inside = true;
            }
            Line::Fence => inside = false,
            Line::Code(code, indent) => {
                let strip = code.len() - code.trim_start_matches(' ').len();
                if let Some(block) = blocks.last_mut() {
                    block.body.push_str(&code[strip.min(indent)..]);
                    block.body.push('\n');
                }
            }
            Line::Prose(_) => {}
        }
    }
    blocks
}

/// `line` with every inline code span (`` `…` ``, ``` ``…`` ```) blanked out.
fn without_code_spans(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    while let Some(start) = rest.find('`') {
        out.push_str(&rest[..start]);
        let ticks = rest[start..].chars().take_while(|c| *c == '`').count();
        let after = &rest[start + ticks..];
        let closing = "`".repeat(ticks);
        match after.find(&closing) {
            Some(end) => rest = &after[end + ticks..],
            None => {
                out.push_str(&rest[start..]);
                return out;
            }
        }
    }
    out.push_str(rest);
    out
}

/// The lines written outside fenced code, numbered from 1.
fn prose(text: &str) -> impl Iterator<Item = (usize, &str)> + '_ {
    classify(text)
        .into_iter()
        .enumerate()
        .filter_map(|(i, line)| match line {
            Line::Prose(line) => Some((i + 1, line)),
            _ => None,
        })
}

/// The target of `](…)` starting at `rest` (just after the parenthesis): up to the matching
/// `)`, without a title, without angle brackets.
fn target(rest: &str) -> Option<String> {
    let mut depth = 0usize;
    let end = rest.char_indices().find_map(|(i, c)| match c {
        '(' => {
            depth += 1;
            None
        }
        ')' if depth == 0 => Some(i),
        ')' => {
            depth -= 1;
            None
        }
        _ => None,
    })?;
    let inner = rest[..end].trim();
    let inner = inner.split([' ', '\t']).next().unwrap_or("");
    Some(
        inner
            .trim_start_matches('<')
            .trim_end_matches('>')
            .to_owned(),
    )
}

/// Every link and image target in the prose of `text`, inline (`[x](t)`) or a reference
/// definition (`[x]: t`).
pub(crate) fn links(text: &str) -> Vec<Link> {
    let mut found = Vec::new();
    for (line, prose) in prose(text) {
        let prose = without_code_spans(prose);
        let mut rest = prose.as_str();
        while let Some(at) = rest.find("](") {
            rest = &rest[at + 2..];
            if let Some(target) = target(rest) {
                found.push(Link { target, line });
            }
        }
        let trimmed = prose.trim_start();
        if trimmed.starts_with('[')
            && let Some(close) = trimmed.find("]:")
        {
            let target = trimmed[close + 2..].split_whitespace().next().unwrap_or("");
            found.push(Link {
                target: target
                    .trim_start_matches('<')
                    .trim_end_matches('>')
                    .to_owned(),
                line,
            });
        }
    }
    found
}

/// A heading's text as GitHub sees it: links reduced to their text, trailing `#`s dropped.
fn heading_text(raw: &str) -> String {
    let raw = raw.trim().trim_end_matches('#').trim_end();
    let mut out = String::new();
    let mut rest = raw;
    while let Some(at) = rest.find("](") {
        out.push_str(&rest[..at]);
        let after = &rest[at + 2..];
        rest = after.find(')').map_or("", |end| &after[end + 1..]);
    }
    out.push_str(rest);
    out
}

/// GitHub's anchor for a heading (github-slugger): lower case, every character that is not
/// a letter, a digit, `_`, `-` or a space removed, each space a `-`.
pub(crate) fn slug(heading: &str) -> String {
    heading_text(heading)
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | ' '))
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// Every anchor a link may name in `text`: each ATX heading's slug (a repeated one gets
/// `-1`, `-2`, … as on GitHub) and each `<a id="…">` or `<a name="…">`.
pub(crate) fn anchors(text: &str) -> BTreeSet<String> {
    let mut anchors = BTreeSet::new();
    for (_, line) in prose(text) {
        let trimmed = line.trim_start();
        let level = trimmed.chars().take_while(|c| *c == '#').count();
        if (1..=6).contains(&level) && trimmed[level..].starts_with(' ') {
            let base = slug(&trimmed[level..]);
            let mut candidate = base.clone();
            let mut n = 0;
            while anchors.contains(&candidate) {
                n += 1;
                candidate = format!("{base}-{n}");
            }
            anchors.insert(candidate);
        }
        for attr in ["id=\"", "name=\""] {
            let mut rest = line;
            while let Some(at) = rest.find(attr) {
                rest = &rest[at + attr.len()..];
                if let Some(end) = rest.find('"') {
                    anchors.insert(rest[..end].to_owned());
                }
            }
        }
    }
    anchors
}
