//! Runs a parsed template on a value, as Go's `text/template` executes: fields, variables,
//! pipelines, `if`/`range`/`with`, and errors placed at the node that failed.

use super::funcs::{self, Param};
use super::parse::{Arg, ArgKind, Branch, BranchKind, Command, Node, Number, Pipe};
use super::value::Value;

/// An execution error: Go's message, and the node it happened at (its position and text).
#[derive(Debug)]
pub struct ExecError {
    /// The byte offset of the node.
    pub pos: usize,
    /// The node as Go prints it in `at <...>`.
    pub node: String,
    /// What went wrong.
    pub message: String,
}

/// How missing struct fields read: Docker's CLI names the Go type of its list rows; for
/// `inspect` it runs the template again on plain maps with `missingkey=error`, whose message
/// it then shows.
#[derive(Clone, Copy, PartialEq, Debug)]
pub enum Missing {
    /// "can't evaluate field X in type T".
    Field,
    /// "map has no entry for key \"X\"".
    NoEntry,
}

/// Whether a data row or the header row of a table is being written.
#[derive(Clone, Copy, PartialEq, Debug)]
pub enum Mode {
    /// Data.
    Data,
    /// The header: Docker's header functions return their argument unchanged.
    Header,
}

/// How a list ended: by its end, `{{break}}` or `{{continue}}`.
enum Flow {
    Normal,
    Break,
    Continue,
}

struct State<'a> {
    out: &'a mut String,
    vars: Vec<(String, Value)>,
    missing: Missing,
    mode: Mode,
}

/// Writes `nodes` run on `data` to `out`.
pub fn execute(
    nodes: &[Node],
    data: &Value,
    out: &mut String,
    missing: Missing,
    mode: Mode,
) -> Result<(), ExecError> {
    let mut state = State {
        out,
        vars: vec![("$".to_owned(), data.clone())],
        missing,
        mode,
    };
    state.list(nodes, data).map(|_| ())
}

impl State<'_> {
    fn list(&mut self, nodes: &[Node], dot: &Value) -> Result<Flow, ExecError> {
        for node in nodes {
            match node {
                Node::Text(text) => self.out.push_str(text),
                Node::Action(pipe) => {
                    let value = self.pipe(pipe, dot)?;
                    if pipe.decl.is_empty() {
                        self.out.push_str(&value.print());
                    }
                }
                Node::Branch(branch) => {
                    let scope = self.vars.len();
                    let flow = self.branch(branch, dot);
                    self.vars.truncate(scope);
                    match flow? {
                        Flow::Normal => {}
                        other => return Ok(other),
                    }
                }
                Node::Break => return Ok(Flow::Break),
                Node::Continue => return Ok(Flow::Continue),
            }
        }
        Ok(Flow::Normal)
    }

    fn branch(&mut self, branch: &Branch, dot: &Value) -> Result<Flow, ExecError> {
        if branch.kind == BranchKind::Range {
            return self.range(branch, dot);
        }
        let value = self.pipe(&branch.pipe, dot)?;
        if value.is_true() {
            let dot = if branch.kind == BranchKind::With {
                &value
            } else {
                dot
            };
            self.list(&branch.list, dot)
        } else {
            self.list(&branch.else_list, dot)
        }
    }

    fn range(&mut self, branch: &Branch, dot: &Value) -> Result<Flow, ExecError> {
        // The variables are set per element, not by the pipeline's value.
        let pipe = &branch.pipe;
        let value = self.commands(pipe, dot)?;
        let items: Vec<(Value, Value)> = match &value {
            Value::List(items) => items
                .iter()
                .enumerate()
                .map(|(i, v)| (Value::Int(i as i64), v.clone()))
                .collect(),
            Value::Map(map) => map
                .iter()
                .map(|(k, v)| (Value::Str(k.clone()), v.clone()))
                .collect(),
            Value::Int(n) => (0..*n).map(|i| (Value::Int(i), Value::Int(i))).collect(),
            Value::Missing | Value::Nil => Vec::new(),
            other => {
                return Err(ExecError {
                    pos: pipe.pos,
                    node: pipe.to_string(),
                    message: format!("range can't iterate over {}", other.print()),
                });
            }
        };
        if items.is_empty() {
            return self.list(&branch.else_list, dot);
        }
        let scope = self.vars.len();
        for (key, element) in items {
            match pipe.decl.as_slice() {
                [one] => self.vars.push((one.clone(), element.clone())),
                [first, second] => {
                    self.vars.push((first.clone(), key));
                    self.vars.push((second.clone(), element.clone()));
                }
                _ => {}
            }
            let flow = self.list(&branch.list, &element)?;
            self.vars.truncate(scope);
            if let Flow::Break = flow {
                break;
            }
        }
        Ok(Flow::Normal)
    }

    /// A pipeline's value, with its declarations or assignments made.
    fn pipe(&mut self, pipe: &Pipe, dot: &Value) -> Result<Value, ExecError> {
        let value = self.commands(pipe, dot)?;
        for name in &pipe.decl {
            if pipe.assign {
                if let Some(slot) = self.vars.iter_mut().rev().find(|(n, _)| n == name) {
                    slot.1 = value.clone();
                }
            } else {
                self.vars.push((name.clone(), value.clone()));
            }
        }
        Ok(value)
    }

    fn commands(&mut self, pipe: &Pipe, dot: &Value) -> Result<Value, ExecError> {
        let mut value: Option<Value> = None;
        for cmd in &pipe.cmds {
            value = Some(self.command(cmd, dot, value)?);
        }
        Ok(value.unwrap_or(Value::Missing))
    }

    fn command(
        &mut self,
        cmd: &Command,
        dot: &Value,
        last: Option<Value>,
    ) -> Result<Value, ExecError> {
        let first = &cmd.args[0];
        let has_args = cmd.args.len() > 1 || last.is_some();
        match &first.kind {
            ArgKind::Function(name) => self.call(name, cmd, dot, last),
            ArgKind::Field(names) => self.fields(dot, names, first, cmd, dot, last),
            ArgKind::Variable(name, names) => {
                let value = self.variable(name);
                if names.is_empty() {
                    self.no_args(has_args, first)?;
                    return Ok(value);
                }
                self.fields(&value, names, first, cmd, dot, last)
            }
            ArgKind::Chain(pipe, names) => {
                let value = self.pipe(pipe, dot)?;
                if names.is_empty() {
                    self.no_args(has_args, first)?;
                    return Ok(value);
                }
                self.fields(&value, names, first, cmd, dot, last)
            }
            ArgKind::Nil => Err(at(first, "nil is not a command")),
            ArgKind::Dot => {
                self.no_args(has_args, first)?;
                Ok(dot.clone())
            }
            _ => {
                self.no_args(has_args, first)?;
                Ok(constant(first))
            }
        }
    }

    fn no_args(&self, has_args: bool, arg: &Arg) -> Result<(), ExecError> {
        if has_args {
            return Err(at(
                arg,
                &format!("can't give argument to non-function {arg}"),
            ));
        }
        Ok(())
    }

    fn variable(&self, name: &str) -> Value {
        self.vars
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map_or(Value::Missing, |(_, v)| v.clone())
    }

    /// `receiver.A.B...`: the last name may be a method called with the command's arguments.
    fn fields(
        &mut self,
        receiver: &Value,
        names: &[String],
        node: &Arg,
        cmd: &Command,
        dot: &Value,
        last: Option<Value>,
    ) -> Result<Value, ExecError> {
        let mut value = receiver.clone();
        for (i, name) in names.iter().enumerate() {
            let final_name = i + 1 == names.len();
            let has_args = final_name && (cmd.args.len() > 1 || last.is_some());
            value = match &value {
                Value::Struct(s) => {
                    if let (Some(labels), "Label") = (&s.labels, name.as_str()) {
                        if !final_name {
                            return Err(at(node, "wrong number of args for Label: want 1 got 0"));
                        }
                        let mut args = self.args(&cmd.args[1..], dot)?;
                        args.extend(last.clone());
                        let [Value::Str(key)] = args.as_slice() else {
                            return Err(at(
                                node,
                                &format!(
                                    "wrong number of args for Label: want 1 got {}",
                                    args.len()
                                ),
                            ));
                        };
                        return Ok(Value::Str(labels.get(key).cloned().unwrap_or_default()));
                    }
                    match s.field(name) {
                        Some(v) => {
                            if has_args {
                                return Err(at(
                                    node,
                                    &format!(
                                        "{name} has arguments but cannot be invoked as function"
                                    ),
                                ));
                            }
                            v.clone()
                        }
                        None if self.missing == Missing::NoEntry => {
                            return Err(at(node, &format!("map has no entry for key \"{name}\"")));
                        }
                        None => {
                            return Err(at(
                                node,
                                &format!("can't evaluate field {name} in type {}", s.type_name),
                            ));
                        }
                    }
                }
                Value::Map(map) => {
                    if has_args {
                        return Err(at(
                            node,
                            &format!("{name} is not a method but has arguments"),
                        ));
                    }
                    map.get(name).cloned().unwrap_or(Value::Missing)
                }
                Value::Nil | Value::Missing => {
                    return Err(at(
                        node,
                        &format!("nil pointer evaluating interface {{}}.{name}"),
                    ));
                }
                other => {
                    return Err(at(
                        node,
                        &format!("can't evaluate field {name} in type {}", other.type_name()),
                    ));
                }
            };
        }
        Ok(value)
    }

    fn args(&mut self, args: &[Arg], dot: &Value) -> Result<Vec<Value>, ExecError> {
        args.iter().map(|a| self.arg(a, dot)).collect()
    }

    /// An argument's value.
    fn arg(&mut self, arg: &Arg, dot: &Value) -> Result<Value, ExecError> {
        match &arg.kind {
            ArgKind::Dot => Ok(dot.clone()),
            ArgKind::Field(names) => self.fields_only(dot, names, arg, dot),
            ArgKind::Variable(name, names) => {
                let value = self.variable(name);
                self.fields_only(&value, names, arg, dot)
            }
            ArgKind::Chain(pipe, names) => {
                let value = self.pipe(pipe, dot)?;
                self.fields_only(&value, names, arg, dot)
            }
            ArgKind::Function(name) => {
                let cmd = Command {
                    pos: arg.pos,
                    args: Vec::new(),
                };
                self.call_with(name, &cmd, Vec::new(), arg)
            }
            _ => Ok(constant(arg)),
        }
    }

    fn fields_only(
        &mut self,
        receiver: &Value,
        names: &[String],
        node: &Arg,
        dot: &Value,
    ) -> Result<Value, ExecError> {
        if names.is_empty() {
            return Ok(receiver.clone());
        }
        let cmd = Command {
            pos: node.pos,
            args: Vec::new(),
        };
        self.fields(receiver, names, node, &cmd, dot, None)
    }

    fn call(
        &mut self,
        name: &str,
        cmd: &Command,
        dot: &Value,
        last: Option<Value>,
    ) -> Result<Value, ExecError> {
        let mut args = self.args(&cmd.args[1..], dot)?;
        args.extend(last);
        self.call_with(name, cmd, args, &cmd.args[0])
    }

    fn call_with(
        &mut self,
        name: &str,
        cmd: &Command,
        args: Vec<Value>,
        node: &Arg,
    ) -> Result<Value, ExecError> {
        let function = funcs::get(name).expect("the parser checked the name");
        let cmd_error = |message: String| ExecError {
            pos: cmd.pos,
            node: if cmd.args.is_empty() {
                node.to_string()
            } else {
                cmd.to_string()
            },
            message,
        };
        let wanted = function.params.len();
        let least = if function.variadic {
            wanted - 1
        } else {
            wanted
        };
        if args.len() < least || (!function.variadic && args.len() > wanted) {
            return Err(cmd_error(format!(
                "wrong number of args for {name}: want {}{least} got {}",
                if function.variadic { "at least " } else { "" },
                args.len()
            )));
        }
        if self.mode == Mode::Header && funcs::header_identity(name) {
            return Ok(args[0].clone());
        }
        for (i, arg) in args.iter().enumerate() {
            let param = function.params[i.min(wanted - 1)];
            if !param.accepts(arg) {
                let message = match arg {
                    Value::Missing => format!("invalid value; expected {}", param.name()),
                    _ if param == Param::Any => continue,
                    other => format!(
                        "wrong type for value; expected {}; got {}",
                        param.name(),
                        other.type_name()
                    ),
                };
                return Err(cmd_error(message));
            }
        }
        (function.call)(&args).map_err(|e| cmd_error(format!("error calling {name}: {e}")))
    }
}

fn at(node: &Arg, message: &str) -> ExecError {
    ExecError {
        pos: node.pos,
        node: node.to_string(),
        message: message.to_owned(),
    }
}

fn constant(arg: &Arg) -> Value {
    match &arg.kind {
        ArgKind::Bool(b) => Value::Bool(*b),
        ArgKind::Number(_, Number::Int(i)) => Value::Int(*i),
        ArgKind::Number(_, Number::Float(f)) => Value::Float(*f),
        ArgKind::Str(s) => Value::Str(s.clone()),
        _ => Value::Nil,
    }
}
