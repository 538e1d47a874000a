//! `cargo xtask regenerate [--check]`: writes [`streamspec_codegen::generate::generate_all`]'s files
//! under the project root, or with `--check` only compares them with what is committed.

use anyhow::{Context, Result};
use streamspec_codegen::generate::{COMMAND, drift, generate_all};

/// The command: writes (or with `check`, only compares) every generated file.
pub fn run(check: bool) -> Result<bool> {
    let root = crate::project_root();
    let files = generate_all(&root)?;
    let drift = drift(&root, &files)?;
    if check {
        if drift.is_empty() {
            println!("regenerate --check: {} generated files are up to date", files.len());
            return Ok(true);
        }
        eprintln!("generated code is stale; the specs and the committed code disagree:");
        for path in &drift.stale {
            eprintln!("  {} (out of date)", path.display());
        }
        for path in &drift.orphaned {
            eprintln!("  {} (its source is gone)", path.display());
        }
        eprintln!("run `{COMMAND}` and commit the result");
        return Ok(false);
    }
    for path in &drift.stale {
        let target = root.join(path);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&target, &files[path])
            .with_context(|| format!("writing {}", path.display()))?;
        println!("regenerate: wrote {}", path.display());
    }
    for path in &drift.orphaned {
        std::fs::remove_file(root.join(path))?;
        println!("regenerate: removed {} (its source is gone)", path.display());
    }
    if drift.is_empty() {
        println!("regenerate: {} generated files already up to date", files.len());
    }
    Ok(true)
}
