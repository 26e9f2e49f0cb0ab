//! What a phony path stands for: a phony edge with inputs is an alias, so an input naming
//! it stands for the phony's own inputs (through phony edges of phony edges). Each phony
//! edge is worked out once, and all of them together are bounded.

use crate::model::fasthash::FastMap;
use crate::sources::ninja::build_file::BuildFile;

/// Most paths the phony edges of a build may stand for, all expansions together (what a
/// step's inputs and deps are made of): far above a real build's, far below what phony
/// targets that each name many others could ask for.
pub(super) const MAX_PHONY_PATHS: usize = 32_000_000;

/// The phony edges worked out so far: each one's paths (sorted, without duplicates), and
/// how many paths they have stood for in all.
#[derive(Default)]
pub(super) struct Phonies<'a> {
    memo: FastMap<usize, Vec<&'a str>>,
    /// Paths the phony edges have stood for so far (see [`MAX_PHONY_PATHS`]).
    paths: usize,
}

/// The phony edges stood for more than [`MAX_PHONY_PATHS`] paths in all while phony edge
/// `edge` was expanded.
pub(super) struct TooManyPaths {
    /// The phony edge being expanded.
    pub(super) edge: usize,
}

impl TooManyPaths {
    /// What is wrong, for the edge's error.
    pub(super) fn message(&self, file: &BuildFile) -> String {
        format!(
            "the phony targets of the build stand for more than {MAX_PHONY_PATHS} paths in all (here '{}'): phony targets that each name many others?",
            file.edges[self.edge].outputs.first().map_or("", String::as_str)
        )
    }
}

impl<'a> Phonies<'a> {
    /// Appends what a path stands for: itself, or a phony path's own inputs (through
    /// phony edges of phony edges). `producer` names the edge making a path, if any.
    pub(super) fn expand(
        &mut self,
        file: &'a BuildFile,
        path: &'a str,
        out: &mut Vec<&'a str>,
        producer: &mut dyn FnMut(&'a str) -> Option<usize>,
    ) -> Result<(), TooManyPaths> {
        let Some(j) = phony_with_inputs(file, path, producer) else {
            out.push(path);
            return Ok(());
        };
        if !self.memo.contains_key(&j) {
            self.expand_edge(file, j, producer)?;
        }
        let done = self.memo.get(&j).map_or(&[][..], Vec::as_slice);
        self.paths = self.paths.saturating_add(done.len());
        out.extend_from_slice(done);
        self.check(j)
    }

    /// Works out what phony edge `j` stands for, and every phony edge below it, each
    /// once, children first; each list sorted and without duplicates (a phony made of
    /// two of another, forty times over, stands for as few paths as it names). An
    /// explicit stack: a chain of 100,000 phony edges overflows no stack.
    fn expand_edge(
        &mut self,
        file: &'a BuildFile,
        j: usize,
        producer: &mut dyn FnMut(&'a str) -> Option<usize>,
    ) -> Result<(), TooManyPaths> {
        // (phony edge, its next input, the paths it stands for so far)
        let mut stack: Vec<(usize, usize, Vec<&'a str>)> = vec![(j, 0, Vec::new())];
        // Started ones are remembered empty at once: a loop (refused by `select` before
        // any step is made) would end here instead of running on.
        self.memo.insert(j, Vec::new());
        while let Some(top) = stack.last_mut() {
            let edge = &file.edges[top.0];
            let Some(input) = edge.input_at(top.1) else {
                let (edge, _, mut paths) = stack.pop().unwrap_or_default();
                paths.sort_unstable();
                paths.dedup();
                if let Some(parent) = stack.last_mut() {
                    parent.2.extend_from_slice(&paths);
                    self.paths = self.paths.saturating_add(paths.len());
                }
                self.memo.insert(edge, paths);
                self.check(j)?;
                continue;
            };
            top.1 += 1;
            let Some(k) = phony_with_inputs(file, input, producer) else {
                self.paths = self.paths.saturating_add(1);
                if let Some(top) = stack.last_mut() {
                    top.2.push(input);
                }
                self.check(j)?;
                continue;
            };
            match self.memo.get(&k) {
                Some(done) => {
                    self.paths = self.paths.saturating_add(done.len());
                    if let Some(top) = stack.last_mut() {
                        top.2.extend_from_slice(done);
                    }
                    self.check(j)?;
                }
                None => {
                    self.memo.insert(k, Vec::new());
                    stack.push((k, 0, Vec::new()));
                }
            }
        }
        Ok(())
    }

    /// Refuses to go on once the phony edges have stood for more than
    /// [`MAX_PHONY_PATHS`] paths in all (phony edge `j` being expanded).
    fn check(&self, j: usize) -> Result<(), TooManyPaths> {
        if self.paths <= MAX_PHONY_PATHS {
            return Ok(());
        }
        Err(TooManyPaths { edge: j })
    }
}

/// The phony edge with inputs that makes `path`, if one does.
fn phony_with_inputs<'a>(
    file: &BuildFile,
    path: &'a str,
    producer: &mut dyn FnMut(&'a str) -> Option<usize>,
) -> Option<usize> {
    let j = producer(path)?;
    let edge = &file.edges[j];
    (edge.is_phony() && edge.input_at(0).is_some()).then_some(j)
}
