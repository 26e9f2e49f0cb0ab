//! The order steps run in: Kahn's algorithm with ties broken by name, so the order is the
//! same from run to run; a cycle is found and named in linear time.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};

use super::decl::StepDecl;
use super::problem::Problem;
use crate::model::fasthash::FastMap;

/// Kahn's algorithm with ties broken by name; a cycle is reported with its steps.
pub(super) fn topological_order(
    steps: &BTreeMap<String, StepDecl>,
) -> Result<Vec<&str>, (String, Problem)> {
    // Steps by position in name order, so the smallest ready position is the first name.
    let names: Vec<&str> = steps.keys().map(String::as_str).collect();
    let positions: FastMap<&str, usize> = names.iter().enumerate().map(|(i, &n)| (n, i)).collect();
    let mut pending = vec![0usize; names.len()];
    // (dep, dependent) pairs, grouped by dep below.
    let mut links: Vec<(usize, usize)> = Vec::with_capacity(names.len());
    let mut deps = Vec::new();
    for (i, (name, decl)) in steps.iter().enumerate() {
        deps.clear();
        for dep in &decl.deps {
            let Some(&d) = positions.get(dep.as_str()) else {
                return Err((name.clone(), Problem::UnknownDep(dep.clone())));
            };
            deps.push(d);
        }
        deps.sort_unstable();
        deps.dedup();
        pending[i] = deps.len();
        links.extend(deps.iter().map(|&d| (d, i)));
    }
    links.sort_unstable();
    let mut first_link = vec![0usize; names.len() + 1];
    for &(d, _) in &links {
        first_link[d + 1] += 1;
    }
    for i in 0..names.len() {
        first_link[i + 1] += first_link[i];
    }
    let mut ready: BinaryHeap<Reverse<usize>> = (0..names.len())
        .filter(|&i| pending[i] == 0)
        .map(Reverse)
        .collect();
    let mut order = Vec::with_capacity(steps.len());
    while let Some(Reverse(i)) = ready.pop() {
        order.push(names[i]);
        for &(_, child) in &links[first_link[i]..first_link[i + 1]] {
            pending[child] -= 1;
            if pending[child] == 0 {
                ready.push(Reverse(child));
            }
        }
    }
    if order.len() == steps.len() {
        return Ok(order);
    }
    let cycle = find_cycle(steps, &names, &positions, &pending);
    Err((cycle[0].clone(), Problem::Cycle(cycle)))
}

/// Follows deps among the steps Kahn's algorithm left (`pending[i] > 0`, each of which
/// has such a dep) from the first by name until a step repeats: that loop is a cycle,
/// returned with its first step again at the end. Linear: each step joins the path once,
/// and its place on the path is kept, not searched for.
fn find_cycle(
    steps: &BTreeMap<String, StepDecl>,
    names: &[&str],
    positions: &FastMap<&str, usize>,
    pending: &[usize],
) -> Vec<String> {
    const OFF_PATH: usize = usize::MAX;
    let mut on_path = vec![OFF_PATH; names.len()];
    let mut path: Vec<usize> = Vec::new();
    let mut next = pending.iter().position(|&p| p > 0);
    while let Some(step) = next {
        if on_path[step] != OFF_PATH {
            let mut cycle: Vec<String> = path[on_path[step]..]
                .iter()
                .map(|&i| names[i].to_string())
                .collect();
            cycle.push(names[step].to_string());
            return cycle;
        }
        on_path[step] = path.len();
        path.push(step);
        next = steps[names[step]]
            .deps
            .iter()
            .filter_map(|dep| positions.get(dep.as_str()).copied())
            .find(|&dep| pending[dep] > 0);
    }
    // Not reached: every step left has a dep left. Name the path rather than panic.
    path.iter().map(|&i| names[i].to_string()).collect()
}
