//! The project's declarations by name, built once per compilation.

use crate::config::number_digits;
use crate::diag::FileId;
use crate::project::Project;
use crate::syntax::ast::{self, Decl};
use std::collections::HashMap;

/// The declarations of one flow file.
pub(super) struct FlowDecls<'p> {
    /// The flow's name.
    pub name: &'p str,
    /// Its file.
    pub file: FileId,
    /// The header, for its `answers` list.
    pub header: &'p ast::FlowHeader,
    /// The first `on call`.
    pub on_call: Option<&'p ast::Handler>,
    /// The first `after call`.
    pub after_call: Option<&'p ast::Handler>,
    /// Steps in source order.
    pub steps: Vec<&'p ast::Named>,
}

impl FlowDecls<'_> {
    /// Returns the numbers that reach the flow, from its `answers` list and
    /// the config, normalised, sorted and without repeats.
    pub fn numbers(&self, project: &Project) -> Vec<String> {
        let answers = self.header.answers.iter().map(|a| a.value.as_str());
        let configured = project
            .config
            .numbers
            .iter()
            .filter(|(_, flow)| flow.as_str() == self.name)
            .map(|(number, _)| number.as_str());
        let mut numbers: Vec<String> = answers.chain(configured).map(number_digits).collect();
        numbers.sort();
        numbers.dedup();
        numbers
    }
}

/// Every declaration of the project by name. When a name is declared twice
/// (an error the checker reports), the first declaration is used.
pub(super) struct Index<'p> {
    pub project: &'p Project,
    flows: Vec<FlowDecls<'p>>,
    flow_positions: HashMap<&'p str, usize>,
    pub queues: HashMap<&'p str, (FileId, &'p ast::Queue)>,
    pub schedules: HashMap<&'p str, (FileId, &'p ast::Hours)>,
    pub subflows: HashMap<&'p str, (FileId, &'p ast::Named)>,
}

impl<'p> Index<'p> {
    pub fn new(project: &'p Project) -> Self {
        let mut index = Index {
            project,
            flows: Vec::new(),
            flow_positions: HashMap::new(),
            queues: HashMap::new(),
            schedules: HashMap::new(),
            subflows: HashMap::new(),
        };
        for file in &project.files {
            index.add_file(file.id, &file.ast);
        }
        index
    }

    fn add_file(&mut self, file: FileId, tree: &'p ast::File) {
        let mut flow: Option<FlowDecls<'p>> = None;
        for decl in &tree.decls {
            match decl {
                Decl::Flow(header) if flow.is_none() => {
                    flow = Some(FlowDecls {
                        name: &header.name.name,
                        file,
                        header,
                        on_call: None,
                        after_call: None,
                        steps: Vec::new(),
                    });
                }
                Decl::Hours(hours) => {
                    self.schedules
                        .entry(&hours.name.name)
                        .or_insert((file, hours));
                }
                Decl::Queue(queue) => {
                    self.queues.entry(&queue.name.name).or_insert((file, queue));
                }
                Decl::Subflow(named) => {
                    self.subflows
                        .entry(&named.name.name)
                        .or_insert((file, named));
                }
                _ => {}
            }
        }
        let Some(mut flow) = flow else {
            return;
        };
        for decl in &tree.decls {
            match decl {
                Decl::OnCall(handler) if flow.on_call.is_none() => flow.on_call = Some(handler),
                Decl::AfterCall(handler) if flow.after_call.is_none() => {
                    flow.after_call = Some(handler)
                }
                Decl::Step(named) => flow.steps.push(named),
                _ => {}
            }
        }
        if !self.flow_positions.contains_key(flow.name) {
            self.flow_positions.insert(flow.name, self.flows.len());
            self.flows.push(flow);
        }
    }

    /// Returns a flow by name.
    pub fn flow(&self, name: &str) -> Option<&FlowDecls<'p>> {
        self.flows.get(*self.flow_positions.get(name)?)
    }

    /// Returns the names of all flows in file order.
    pub fn flow_names(&self) -> impl Iterator<Item = &'p str> + Clone + '_ {
        self.flows.iter().map(|f| f.name)
    }
}
