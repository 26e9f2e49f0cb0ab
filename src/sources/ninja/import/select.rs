//! Which edges the requested targets need: an iterative depth-first walk over the edges'
//! inputs and discovered dependencies that refuses a dependency cycle, as Ninja does.

use std::collections::HashMap;

use crate::sources::ninja::build_file::BuildFile;

/// Where the walk of [`select`] is with an edge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Visit {
    /// Not reached yet.
    New,
    /// On the walk's stack: reaching it again closes a cycle.
    Open,
    /// It and everything it depends on are walked.
    Done,
}

/// An edge on the stack of [`select`].
struct Frame<'a> {
    edge: usize,
    /// The path it was reached through (for a cycle's message).
    via: &'a str,
    /// Its next dependency to look at (see [`dependency`]).
    next: usize,
}

impl<'a> Frame<'a> {
    fn new(edge: usize, via: &'a str) -> Frame<'a> {
        Frame { edge, via, next: 0 }
    }
}

/// A dependency cycle: the edge whose dependency closes it, and the paths around it with
/// the first again at the end ("a -> b -> c -> a").
pub(super) struct Cycle {
    /// The edge on top of the walk's stack when the cycle closed.
    pub(super) closing_edge: usize,
    /// The paths of the cycle.
    pub(super) paths: Vec<String>,
}

/// The non-phony edges the edges `roots` (those making the targets, in target order) need,
/// in file order. A dependency cycle among the edges they reach is an error, as in Ninja
/// ("dependency cycle: a -> b -> a"): its edges would wait for each other forever. The
/// walk is an iterative depth-first search (no recursion to overflow on long chains),
/// linear in the edges and paths it reaches; validations are walked as targets of their
/// own, as Ninja does. `producer` names the edge making a path of the build file.
pub(super) fn select<'a>(
    file: &'a BuildFile,
    discovered: &'a HashMap<String, Vec<String>>,
    mut roots: Vec<usize>,
    producer: &mut dyn FnMut(&'a str) -> Option<usize>,
) -> Result<Vec<usize>, Cycle> {
    let mut state = vec![Visit::New; file.edges.len()];
    roots.reverse();
    let mut stack: Vec<Frame<'a>> = Vec::new();
    while let Some(root) = roots.pop() {
        if state[root] != Visit::New {
            continue;
        }
        state[root] = Visit::Open;
        stack.push(Frame::new(root, ""));
        while let Some(frame) = stack.last_mut() {
            let edge = frame.edge;
            let Some(path) = dependency(file, discovered, edge, frame.next) else {
                state[edge] = Visit::Done;
                let validations = file.edges[edge].validations.iter();
                roots.extend(validations.filter_map(|v| producer(v)));
                stack.pop();
                continue;
            };
            frame.next += 1;
            let Some(j) = producer(path) else {
                continue;
            };
            match state[j] {
                Visit::New => {
                    state[j] = Visit::Open;
                    stack.push(Frame::new(j, path));
                }
                Visit::Open if j == edge && ignores_itself(file, edge, frame.next - 1) => {}
                Visit::Open => return Err(cycle(&stack, j, path)),
                Visit::Done => {}
            }
        }
    }
    Ok((0..file.edges.len())
        .filter(|&i| state[i] == Visit::Done && !file.edges[i].is_phony())
        .collect())
}

/// The `k`-th path edge `i` depends on, as Ninja sees it: its inputs, implicit and
/// order-only inputs, then what the compiler discovered (found by position, so the
/// walk allocates nothing per edge).
fn dependency<'a>(
    file: &'a BuildFile,
    discovered: &'a HashMap<String, Vec<String>>,
    i: usize,
    k: usize,
) -> Option<&'a str> {
    let edge = &file.edges[i];
    if let Some(path) = edge.input_at(k) {
        return Some(path);
    }
    let listed = edge.inputs.len() + edge.implicit_inputs.len() + edge.order_only.len();
    let discovered = edge.outputs.first().and_then(|o| discovered.get(o))?;
    discovered.get(k - listed).map(String::as_str)
}

/// Whether the `k`-th dependency of edge `i`, which names `i` itself, is left out
/// rather than a cycle: in a phony edge of one output (Ninja drops those, which old
/// CMake versions wrote), or among the discovered dependencies (a depfile naming its
/// own output; the importer never made that a dep).
fn ignores_itself(file: &BuildFile, i: usize, k: usize) -> bool {
    let edge = &file.edges[i];
    let listed = edge.inputs.len() + edge.implicit_inputs.len() + edge.order_only.len();
    let phony_alias = edge.is_phony()
        && edge.outputs.len() == 1
        && edge.implicit_outputs.is_empty()
        && edge.implicit_inputs.is_empty();
    phony_alias || k >= listed
}

/// The cycle `path` (made by edge `j`, open on the stack) closes from the top of the
/// stack: "a -> b -> c -> a".
fn cycle(stack: &[Frame], j: usize, path: &str) -> Cycle {
    let from = stack.iter().rposition(|f| f.edge == j).unwrap_or(0);
    let mut paths = vec![path.to_string()];
    paths.extend(stack[from + 1..].iter().map(|f| f.via.to_string()));
    paths.push(path.to_string());
    let closing_edge = stack.last().map_or(j, |f| f.edge);
    Cycle {
        closing_edge,
        paths,
    }
}
