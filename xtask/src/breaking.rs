//! `cargo xtask lint --breaking [--base REV]`: what a spec edit changes since a git revision, and
//! whether each breaking change is acknowledged. The comparison is [`streamspec_codegen::breaking`].

use std::collections::BTreeSet;
use std::process::Command;

use anyhow::{Context, Result, bail};
use streamspec_codegen::breaking::{Audience, Change, acknowledged, changes};
use streamspec_codegen::registry::APIS;
use streamspec_codegen::spec::SpecDocument;

/// The revision to compare with: the merge base with `main` when there is a `main`, else `HEAD`.
pub fn default_base() -> Result<String> {
    let merge_base = git(&["merge-base", "HEAD", "main"]);
    match merge_base {
        Ok(revision) => Ok(revision),
        Err(_) => git(&["rev-parse", "HEAD"]).context("finding a revision to compare with"),
    }
}

fn git(arguments: &[&str]) -> Result<String> {
    let output = Command::new("git")
        .args(arguments)
        .current_dir(crate::project_root())
        .output()
        .context("running git")?;
    if !output.status.success() {
        bail!("git {}: {}", arguments.join(" "), String::from_utf8_lossy(&output.stderr).trim());
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

/// A file's text at `revision`, or `None` when it did not exist there.
fn at_revision(revision: &str, path: &str) -> Result<Option<String>> {
    let output = Command::new("git")
        .args(["show", &format!("{revision}:{path}")])
        .current_dir(crate::project_root())
        .output()
        .context("running git show")?;
    Ok(output.status.success().then(|| String::from_utf8_lossy(&output.stdout).into_owned()))
}

/// The command: prints the breaking changes of every spec since `base` and fails on unacknowledged ones.
pub fn run(base: Option<&str>) -> Result<bool> {
    let root = crate::project_root();
    let base = match base {
        Some(base) => base.to_owned(),
        None => match default_base() {
            Ok(base) => base,
            // A source archive has no history to compare with.
            Err(error) => {
                println!("breaking: skipped, no git revision to compare with ({error:#})");
                return Ok(true);
            }
        },
    };
    let changelog_path = "spec/CHANGELOG.md";
    let changelog = std::fs::read_to_string(root.join(changelog_path)).unwrap_or_default();
    let old_changelog = at_revision(&base, changelog_path)?.unwrap_or_default();
    let old_lines: BTreeSet<&str> = old_changelog.lines().collect();
    let added_lines: Vec<&str> =
        changelog.lines().filter(|line| !old_lines.contains(line)).collect();
    let short = base.get(..12).unwrap_or(&base);
    let mut clean = true;
    for api in APIS {
        let path = format!("spec/{}", api.spec);
        let Some(old_text) = at_revision(&base, &path)? else {
            println!("breaking: {path} is new since {short}");
            continue;
        };
        let old = SpecDocument::parse(std::path::Path::new(&path), old_text)?;
        let new = SpecDocument::load(&root.join(&path))?;
        let all = changes(&old.value, &new.value);
        if !all.compatible.is_empty() {
            println!("breaking: {path}: changes that break nothing since {short}:");
            for change in &all.compatible {
                println!("  {change}");
            }
        }
        let changes = all.breaking;
        if changes.is_empty() {
            println!("breaking: {path}: nothing breaking since {short}");
            continue;
        }
        for audience in [Audience::Clients, Audience::Servers] {
            let mine: Vec<&Change> =
                changes.iter().filter(|change| change.audience == audience).collect();
            if mine.is_empty() {
                continue;
            }
            println!("breaking: {path}: breaking for {audience} since {short}:");
            for change in mine {
                let known = acknowledged(change, &added_lines);
                clean &= known;
                let mark = if known { "acknowledged" } else { "NOT ACKNOWLEDGED" };
                println!("  {change} [{mark}]");
            }
        }
    }
    if !clean {
        eprintln!(
            "breaking changes are not acknowledged: add a line to {changelog_path} with `Breaking`, the \
             operationId and the field, parameter or status in backquotes, e.g. \
             \"- **Breaking** (`update_ingest_settings`): `requestURL` ...\"\n\
             (the list above says which operations and fields)"
        );
    }
    Ok(clean)
}
