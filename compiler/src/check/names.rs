//! TODO: module being written.

use crate::diag::Diagnostic;
use crate::project::Project;

/// Adds this module's problems to `diagnostics`.
pub fn check(project: &Project, diagnostics: &mut Vec<Diagnostic>) {
    let _ = (project, diagnostics);
}
