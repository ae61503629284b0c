//! `atom publish`: one line per atom (published, unchanged, failed and why), then a summary.

use atom::id::Label;
use atom::manifest::Version;
use atom::publish::{self, Outcome};
use atom::repo::Repo;
use serde_json::json;

use crate::output::Output;

/// The atoms a publish left published (created or already there), and the failure to report when
/// any atom failed.
pub type Published = (Vec<(Label, Version)>, Option<String>);

/// Publishes the atoms at `paths` (every atom of `ekala.toml` when empty) from `rev` and reports
/// each one. Returns the atoms now published (created or already there), and the failure to
/// report when any atom failed (after reporting all of them).
pub fn publish(
    repo: &Repo,
    rev: &str,
    paths: &[String],
    signing: Option<&publish::Signing<'_>>,
    out: &mut Output,
) -> Result<Published, String> {
    out.progress(&format!("publishing from {rev}"));
    let report = publish::publish_signed(repo, rev, paths, signing).map_err(|e| e.to_string())?;
    if let Some(root) = report.initialized {
        out.line(format!(
            "initialized: refs/ekala/init -> {root} (the repository had no identity yet; `atom fetch` needs it)"
        ));
    }
    let mut failures = Vec::new();
    for atom in &report.atoms {
        for note in &atom.notes {
            out.warn(&format!("{}: {note}", atom.path));
        }
        if !atom.worktree_changes.is_empty() {
            out.warn(&format!(
                "{}: publishing commit {}, whose {} differs from the working tree ({}); publish reads the commit: commit your changes to publish them",
                atom.path,
                report.origin,
                atom.path,
                atom.worktree_changes.join(", ")
            ));
        }
        let line = match &atom.result {
            Ok(Outcome::Created(a)) => format!(
                "published {} {} ({}) -> {}",
                a.label,
                a.version,
                a.path.display(),
                a.commit
            ),
            Ok(Outcome::Unchanged(a)) => format!(
                "unchanged {} {} ({}) -> {} (published from {})",
                a.label,
                a.version,
                a.path.display(),
                a.commit,
                a.origin
            ),
            Err(error) => {
                let what = match &atom.package {
                    Some((label, version)) => format!("{label} {version} ({})", atom.path),
                    None => atom.path.clone(),
                };
                failures.push(format!("{what}: {error}"));
                format!("failed {what}: {error}")
            }
        };
        out.line(line);
    }
    let (published, unchanged, failed) = report.counts();
    out.line(format!(
        "{published} published, {unchanged} unchanged, {failed} failed"
    ));
    out.json(json!(report
        .atoms
        .iter()
        .map(publish::AtomReport::to_json)
        .collect::<Vec<_>>()));
    let published = report
        .atoms
        .iter()
        .filter_map(|atom| atom.result.as_ref().ok())
        .map(|outcome| (outcome.atom().label.clone(), outcome.atom().version.clone()))
        .collect();
    let failure = (!failures.is_empty()).then(|| {
        format!(
            "{failed} of {} atoms failed to publish:\n  {}",
            report.atoms.len(),
            failures.join("\n  ")
        )
    });
    Ok((published, failure))
}
