//! Strongly connected components by Tarjan's algorithm, written with an
//! explicit stack so that a long chain of steps cannot overflow the thread's
//! stack.

/// Tarjan's bookkeeping for one visited node.
#[derive(Clone, Copy)]
struct Visit {
    index: usize,
    low: usize,
    on_stack: bool,
}

struct Tarjan<'g> {
    successors: &'g [Vec<usize>],
    visits: Vec<Option<Visit>>,
    stack: Vec<usize>,
    counter: usize,
    components: Vec<Vec<usize>>,
}

impl Tarjan<'_> {
    fn visit(&self, node: usize) -> Option<Visit> {
        self.visits.get(node).copied().flatten()
    }

    fn start(&mut self, node: usize) {
        if let Some(slot) = self.visits.get_mut(node) {
            *slot = Some(Visit {
                index: self.counter,
                low: self.counter,
                on_stack: true,
            });
        }
        self.counter += 1;
        self.stack.push(node);
    }

    fn lower(&mut self, node: usize, low: usize) {
        if let Some(Some(visit)) = self.visits.get_mut(node) {
            visit.low = visit.low.min(low);
        }
    }

    fn pop_component(&mut self, root: usize) {
        let mut component = Vec::new();
        while let Some(node) = self.stack.pop() {
            if let Some(Some(visit)) = self.visits.get_mut(node) {
                visit.on_stack = false;
            }
            component.push(node);
            if node == root {
                break;
            }
        }
        component.sort_unstable();
        self.components.push(component);
    }

    fn run_from(&mut self, root: usize) {
        // Each frame is a node and the position of its next successor.
        let mut frames = vec![(root, 0usize)];
        self.start(root);
        while let Some(&(node, position)) = frames.last() {
            let next = self
                .successors
                .get(node)
                .and_then(|s| s.get(position))
                .copied();
            if let Some(frame) = frames.last_mut() {
                frame.1 += 1;
            }
            if let Some(successor) = next {
                if successor >= self.successors.len() {
                    continue;
                }
                match self.visit(successor) {
                    None => {
                        self.start(successor);
                        frames.push((successor, 0));
                    }
                    Some(visit) if visit.on_stack => self.lower(node, visit.index),
                    Some(_) => {}
                }
                continue;
            }
            frames.pop();
            let Some(visit) = self.visit(node) else {
                continue;
            };
            if let Some(&(parent, _)) = frames.last() {
                self.lower(parent, visit.low);
            }
            if visit.low == visit.index {
                self.pop_component(node);
            }
        }
    }
}

/// Returns the strongly connected components of the graph whose nodes are
/// `0..successors.len()`, each sorted, in reverse topological order: a
/// component comes after every component it has an edge to. Edges to nodes
/// out of range are ignored.
pub(super) fn components(successors: &[Vec<usize>]) -> Vec<Vec<usize>> {
    let mut tarjan = Tarjan {
        successors,
        visits: vec![None; successors.len()],
        stack: Vec::new(),
        counter: 0,
        components: Vec::new(),
    };
    for root in 0..successors.len() {
        if tarjan.visit(root).is_none() {
            tarjan.run_from(root);
        }
    }
    tarjan.components
}

/// True when a component contains a cycle: several nodes, or one node with
/// an edge to itself.
pub(super) fn is_cycle(component: &[usize], successors: &[Vec<usize>]) -> bool {
    match component {
        [node] => successors
            .get(*node)
            .is_some_and(|targets| targets.contains(node)),
        _ => component.len() > 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_cycles_and_singletons() {
        // 0 -> 1 -> 2 -> 0, 2 -> 3, 3 -> 3, 4 alone.
        let graph = vec![vec![1], vec![2], vec![0, 3], vec![3], vec![]];
        let components = components(&graph);
        assert!(components.contains(&vec![0, 1, 2]));
        assert!(components.contains(&vec![3]));
        assert!(components.contains(&vec![4]));
        assert_eq!(components.len(), 3);
        assert!(is_cycle(&[0, 1, 2], &graph));
        assert!(is_cycle(&[3], &graph));
        assert!(!is_cycle(&[4], &graph));
    }

    #[test]
    fn orders_callees_first() {
        // 0 -> 1 -> 2: the component of 2 comes first.
        let graph = vec![vec![1], vec![2], vec![]];
        assert_eq!(components(&graph), vec![vec![2], vec![1], vec![0]]);
    }

    #[test]
    fn survives_a_long_chain() {
        let n = 200_000;
        let graph: Vec<Vec<usize>> = (0..n).map(|i| vec![(i + 1) % n]).collect();
        let components = components(&graph);
        assert_eq!(components.len(), 1);
    }

    #[test]
    fn ignores_edges_out_of_range() {
        let graph = vec![vec![7]];
        assert_eq!(components(&graph), vec![vec![0]]);
    }
}
