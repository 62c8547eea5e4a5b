//! The documentation held to the code: the configuration reference is the table
//! `config::VARS` renders and explains every variable (as `.env.example` does); the files in
//! `deploy/` appear whole in the pages that show them, every nginx or Caddy block in the docs
//! is part of one of them and every TOML block is a `DOORMAN_CONFIG` doorman accepts; every
//! relative link in every Markdown file reaches a file (and a heading); the index lists every
//! page; the README stays a short introduction that names the test command CI runs.
//!
//! `cargo test --test docs -- --ignored` rewrites the generated part of
//! `docs/reference/configuration.md` after a change to `config::VARS`.

mod markdown;
mod repo;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use doorman::config::{VARS, check_file};

const CONFIGURATION: &str = "docs/reference/configuration.md";
const BEGIN: &str = "<!-- BEGIN config::VARS: generated, edit src/config/vars.rs and run \
                     `cargo test --test docs -- --ignored` -->";
const END: &str = "<!-- END config::VARS -->";

/// The table of every variable, as `config::VARS` has it (the order of `doorman --help`).
fn vars_table() -> String {
    let mut out = String::from("| Variable | Default | What it sets |\n|---|---|---|\n");
    for var in VARS {
        let default = match var.default {
            "" => "—".to_owned(),
            prose if prose.contains(' ') => prose.to_owned(),
            literal => format!("`{literal}`"),
        };
        let help = var.help.replace('|', "\\|");
        out.push_str(&format!("| `{}` | {default} | {help} |\n", var.name));
    }
    out
}

/// The configuration page split around its generated table: before, table, after.
fn configuration_parts(page: &str) -> (&str, &str, &str) {
    let begin = page
        .find(BEGIN)
        .expect("the configuration page has its BEGIN marker");
    let end = page
        .find(END)
        .expect("the configuration page has its END marker");
    let table = &page[begin + BEGIN.len()..end];
    (&page[..begin + BEGIN.len()], table, &page[end..])
}

#[test]
fn the_configuration_reference_lists_config_vars_exactly_as_they_are() {
    let page = repo::read(CONFIGURATION);
    let (_, table, _) = configuration_parts(&page);
    assert_eq!(
        table.trim(),
        vars_table().trim(),
        "{CONFIGURATION} differs from config::VARS: run `cargo test --test docs -- --ignored`"
    );
}

#[test]
#[ignore = "writes docs/reference/configuration.md from config::VARS; run after changing them"]
fn write_the_configuration_reference_from_config_vars() {
    let page = repo::read(CONFIGURATION);
    let (before, _, after) = configuration_parts(&page);
    let written = format!("{before}\n{}{after}", vars_table());
    std::fs::write(repo::root().join(CONFIGURATION), written).expect("the page is writable");
}

#[test]
fn every_variable_is_explained_in_the_configuration_reference_and_the_example_file() {
    let page = repo::read(CONFIGURATION);
    let (before, _, after) = configuration_parts(&page);
    let explained = format!("{before}{after}");
    let example = repo::read(".env.example");
    for var in VARS {
        let name = format!("`{}`", var.name);
        let has_row = explained.lines().any(|line| {
            line.starts_with("| ") && line.split(" | ").next().is_some_and(|c| c.contains(&name))
        });
        assert!(
            has_row,
            "{} has no row of its own in {CONFIGURATION}'s explanations",
            var.name
        );
        assert!(
            example.contains(var.name),
            "{} not in .env.example",
            var.name
        );
    }
}

/// Each file in `deploy/` and the page that shows it whole.
const SHOWN: &[(&str, &str)] = &[
    ("deploy/nginx/app.conf", "docs/how-to/nginx.md"),
    (
        "deploy/nginx/doorman-auth-request.conf",
        "docs/how-to/nginx.md",
    ),
    ("deploy/nginx/doorman-identity.conf", "docs/how-to/nginx.md"),
    ("deploy/caddy/Caddyfile", "docs/how-to/caddy.md"),
    ("deploy/policies.toml", "docs/reference/policy-file.md"),
];

#[test]
fn the_docs_show_exactly_the_files_the_gateway_suite_runs() {
    for (file, page) in SHOWN {
        assert!(
            repo::read(page).contains(&repo::read(file)),
            "{page} does not show {file} as it is"
        );
    }
    let shown: BTreeSet<&str> = SHOWN.iter().map(|(file, _)| *file).collect();
    for path in repo::files("deploy", "") {
        let file = repo::shown(&path);
        assert!(shown.contains(file.as_str()), "{file} is shown in no page");
    }
    doorman::config::parse_policies("deploy/policies.toml", &repo::read("deploy/policies.toml"))
        .expect("the example policy file is valid");
}

/// README.md and every page under `docs/`.
fn documentation() -> Vec<PathBuf> {
    let mut pages = vec![repo::root().join("README.md")];
    pages.extend(repo::files("docs", ".md"));
    pages
}

#[test]
fn every_nginx_or_caddy_block_in_the_docs_is_part_of_a_file_in_deploy_and_every_toml_block_is_valid()
 {
    let deployed: Vec<String> = repo::files("deploy", "").iter().map(repo::read).collect();
    let mut checked = 0;
    for page in documentation() {
        for block in markdown::code_blocks(&repo::read(&page)) {
            let at = format!("{}:{}", repo::shown(&page), block.line);
            match block.info.as_str() {
                "nginx" | "caddyfile" => {
                    assert!(
                        deployed.iter().any(|file| file.contains(&block.body)),
                        "{at}: this {} block is not part of any file in deploy/",
                        block.info
                    );
                }
                "toml" => {
                    if let Err(e) = check_file(&at, &block.body) {
                        panic!("{at}: doorman refuses this DOORMAN_CONFIG: {e}");
                    }
                }
                _ => continue,
            }
            checked += 1;
        }
    }
    assert!(
        checked >= 6,
        "only {checked} nginx, Caddy or TOML blocks found"
    );
}

/// Why `target`, linked from `page`, does not resolve (`None` when it does).
fn broken(page: &Path, target: &str) -> Option<String> {
    if target.contains("://") || target.starts_with("mailto:") || target.is_empty() {
        return None;
    }
    let (path, anchor) = match target.split_once('#') {
        Some((path, anchor)) => (path, Some(anchor)),
        None => (target, None),
    };
    let file = match path {
        "" => page.to_path_buf(),
        absolute if absolute.starts_with('/') => repo::root().join(&absolute[1..]),
        relative => page.parent()?.join(relative.replace("%20", " ")),
    };
    if !file.exists() {
        return Some(format!("no file {}", repo::normal(&file)));
    }
    let anchor = anchor.filter(|_| file.extension().is_some_and(|e| e == "md"))?;
    let anchors = markdown::anchors(&repo::read(&file));
    (!anchors.contains(anchor)).then(|| format!("no heading #{anchor} in {}", repo::normal(&file)))
}

#[test]
fn every_relative_link_in_every_markdown_file_resolves() {
    let mut failures = Vec::new();
    let pages = repo::files(".", ".md");
    assert!(
        pages.len() > 20,
        "found only {} Markdown files",
        pages.len()
    );
    for page in &pages {
        for link in markdown::links(&repo::read(page)) {
            if let Some(why) = broken(page, &link.target) {
                failures.push(format!(
                    "{}:{}: ({}) {why}",
                    repo::shown(page),
                    link.line,
                    link.target
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "broken links:\n{}",
        failures.join("\n")
    );
}

/// The pages `index` links to, as paths from the crate root.
fn linked_pages(index: &str) -> BTreeSet<String> {
    let base = repo::root().join(index);
    markdown::links(&repo::read(index))
        .into_iter()
        .filter(|link| !link.target.contains("://"))
        .filter_map(|link| {
            let path = link.target.split('#').next()?.to_owned();
            Some(repo::normal(&base.parent()?.join(path)))
        })
        .collect()
}

#[test]
fn the_docs_index_and_the_book_summary_list_every_page() {
    for index in ["docs/README.md", "docs/SUMMARY.md"] {
        let linked = linked_pages(index);
        for page in repo::files("docs", ".md") {
            let page = repo::shown(&page);
            if page == index || page == "docs/README.md" || page == "docs/SUMMARY.md" {
                continue;
            }
            assert!(linked.contains(&page), "{index} does not list {page}");
        }
    }
}

#[test]
fn the_readme_is_a_short_introduction_that_names_the_test_command_ci_runs() {
    let readme = repo::read("README.md");
    let lines = readme.lines().count();
    assert!(
        lines <= 200,
        "README.md has {lines} lines: keep it an introduction, move the rest into docs/"
    );
    assert!(
        readme.contains("`cargo test`"),
        "README.md names no `cargo test`"
    );
    assert!(
        readme.contains("`bash .ci/run`"),
        "README.md does not say what CI runs"
    );
    let ci = repo::read(".ci/run");
    assert!(
        ci.lines().any(|line| line.trim() == "cargo test"),
        ".ci/run no longer runs the README's `cargo test`"
    );
}

#[test]
fn headings_get_the_anchors_github_gives_them() {
    for (heading, anchor) in [
        ("Behind a reverse proxy", "behind-a-reverse-proxy"),
        ("`doorman check`", "doorman-check"),
        ("Traefik (not tested here)", "traefik-not-tested-here"),
        ("A. The login flow", "a-the-login-flow"),
        (
            "Rotate `SESSION_SECRET` — twice",
            "rotate-session_secret--twice",
        ),
        ("The [front door](x.md) ##", "the-front-door"),
    ] {
        assert_eq!(markdown::slug(heading), anchor, "{heading}");
    }
    let page = "# Title\n## Same\n```\n## not a heading\n```\n## Same\n<a id=\"x\"></a>\n";
    let anchors = markdown::anchors(page);
    let expected = ["same", "same-1", "title", "x"];
    assert_eq!(anchors, expected.iter().map(|a| a.to_string()).collect());
}

#[test]
fn links_in_code_are_not_links_and_blocks_keep_their_text() {
    let page = "See [a](a.md#x) and `[b](b.md)`.\n\n   ```toml\n   a = 1\n   ```\n[c]: c.md\n";
    let targets: Vec<String> = markdown::links(page)
        .into_iter()
        .map(|l| l.target)
        .collect();
    assert_eq!(targets, ["a.md#x", "c.md"]);
    let blocks = markdown::code_blocks(page);
    assert_eq!(blocks.len(), 1);
    assert_eq!(
        (blocks[0].info.as_str(), blocks[0].body.as_str()),
        ("toml", "a = 1\n")
    );
}
