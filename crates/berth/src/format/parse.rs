//! The parser of Go's template language: tokens into a tree of nodes, with Go's checks
//! (functions defined, variables declared, `{{end}}` matched) and its error messages.

use super::funcs;
use super::lex::{self, Kind, Token};
use std::fmt;

/// A node of the tree.
#[derive(Debug)]
pub enum Node {
    /// Text, written as it is.
    Text(String),
    /// `{{pipeline}}`: its value is written, unless it declares variables.
    Action(Pipe),
    /// `{{if}}`, `{{range}}` or `{{with}}`.
    Branch(Branch),
    /// `{{break}}`
    Break,
    /// `{{continue}}`
    Continue,
}

/// Which control structure a [`Branch`] is.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum BranchKind {
    /// `{{if}}`
    If,
    /// `{{range}}`
    Range,
    /// `{{with}}`
    With,
}

/// `{{if|range|with pipeline}} list {{else}} else_list {{end}}`.
#[derive(Debug)]
pub struct Branch {
    /// if, range or with.
    pub kind: BranchKind,
    /// The condition (or what is ranged over).
    pub pipe: Pipe,
    /// What runs when it holds (for each element).
    pub list: Vec<Node>,
    /// What runs otherwise.
    pub else_list: Vec<Node>,
}

/// A pipeline: optional variables, then commands joined by `|`.
#[derive(Debug)]
pub struct Pipe {
    /// Where it starts.
    pub pos: usize,
    /// The variables it declares or assigns.
    pub decl: Vec<String>,
    /// `=` rather than `:=`.
    pub assign: bool,
    /// The commands.
    pub cmds: Vec<Command>,
}

/// A command: a function or a value, with arguments.
#[derive(Debug)]
pub struct Command {
    /// Where it starts.
    pub pos: usize,
    /// The operands: the first is what runs.
    pub args: Vec<Arg>,
}

/// An operand, with its position.
#[derive(Debug)]
pub struct Arg {
    /// Where it is.
    pub pos: usize,
    /// What it is.
    pub kind: ArgKind,
}

/// The kinds of operand.
#[derive(Debug)]
pub enum ArgKind {
    /// `.`
    Dot,
    /// `nil`
    Nil,
    /// `true` or `false`
    Bool(bool),
    /// A number, as written, with its value.
    Number(String, Number),
    /// A string, with its quoted form as written.
    Str(String),
    /// `.A.B`
    Field(Vec<String>),
    /// `$x.A.B` (`$` alone for the template's data).
    Variable(String, Vec<String>),
    /// A function's name.
    Function(String),
    /// `(pipeline)` then fields: `(index .X 0).Name`.
    Chain(Box<Pipe>, Vec<String>),
}

/// A number constant.
#[derive(Debug, Clone, Copy)]
pub enum Number {
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
}

/// A parse error: Go's message and the byte offset it is at.
#[derive(Debug)]
pub struct ParseError {
    /// Go's message.
    pub message: String,
    /// The byte offset.
    pub pos: usize,
}

/// Parses a template.
pub fn parse(input: &str) -> Result<Vec<Node>, ParseError> {
    let tokens = lex::lex(input).map_err(|e| ParseError {
        message: e.message,
        pos: e.pos,
    })?;
    let mut parser = Parser {
        tokens,
        at: 0,
        vars: vec!["$".to_owned()],
        range_depth: 0,
        end: input.len(),
    };
    let (list, end) = parser.list()?;
    match end {
        Stop::Eof => Ok(list),
        Stop::End(pos) => Err(parser.error_at("unexpected {{end}}", pos)),
        Stop::Else(pos, _) => Err(parser.error_at("unexpected {{else}}", pos)),
    }
}

/// What ended a list.
enum Stop {
    /// The end of the template.
    Eof,
    /// `{{end}}`, at this position.
    End(usize),
    /// `{{else}}` at this position, with `{{else if|with ...}}`'s keyword.
    Else(usize, Option<BranchKind>),
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
    /// The variables in scope, innermost last.
    vars: Vec<String>,
    range_depth: usize,
    end: usize,
}

impl Parser {
    fn error_at(&self, message: &str, pos: usize) -> ParseError {
        ParseError {
            message: message.to_owned(),
            pos,
        }
    }

    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    /// The next token that is not a space.
    fn peek_non_space(&mut self) -> Option<&Token> {
        while self.peek().is_some_and(|t| t.kind == Kind::Space) {
            self.at += 1;
        }
        self.peek()
    }

    fn next(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.at).cloned();
        self.at += 1;
        token
    }

    fn next_non_space(&mut self) -> Option<Token> {
        self.peek_non_space();
        self.next()
    }

    fn pos(&self) -> usize {
        self.peek().map_or(self.end, |t| t.pos)
    }

    /// Nodes up to `{{end}}`, `{{else}}` or the end of the template.
    fn list(&mut self) -> Result<(Vec<Node>, Stop), ParseError> {
        let mut nodes = Vec::new();
        while let Some(token) = self.next() {
            match token.kind {
                Kind::Text(text) => nodes.push(Node::Text(text)),
                Kind::Left => {
                    if let Some(end) = self.action(&mut nodes)? {
                        return Ok((nodes, end));
                    }
                }
                _ => return Err(self.error_at("unexpected token", token.pos)),
            }
        }
        Ok((nodes, Stop::Eof))
    }

    /// After `{{`: one action; `Some` when it ends the current list.
    fn action(&mut self, nodes: &mut Vec<Node>) -> Result<Option<Stop>, ParseError> {
        let pos = self.pos();
        let keyword = match self.peek_non_space() {
            Some(Token {
                kind: Kind::Ident(word),
                ..
            }) => word.clone(),
            _ => String::new(),
        };
        match keyword.as_str() {
            "end" => {
                self.next();
                self.close("end")?;
                Ok(Some(Stop::End(pos)))
            }
            "else" => {
                self.next();
                let kind = match self.peek_non_space() {
                    Some(Token {
                        kind: Kind::Ident(word),
                        ..
                    }) if word == "if" => Some(BranchKind::If),
                    Some(Token {
                        kind: Kind::Ident(word),
                        ..
                    }) if word == "with" => Some(BranchKind::With),
                    _ => None,
                };
                if kind.is_none() {
                    self.close("else")?;
                }
                Ok(Some(Stop::Else(pos, kind)))
            }
            "if" | "range" | "with" => {
                self.next();
                let kind = match keyword.as_str() {
                    "if" => BranchKind::If,
                    "range" => BranchKind::Range,
                    _ => BranchKind::With,
                };
                nodes.push(Node::Branch(self.branch(kind, &keyword)?));
                Ok(None)
            }
            "break" | "continue" => {
                self.next();
                if self.range_depth == 0 {
                    return Err(
                        self.error_at(&format!("{{{{{keyword}}}}} outside {{{{range}}}}"), pos)
                    );
                }
                self.close(&keyword)?;
                nodes.push(if keyword == "break" {
                    Node::Break
                } else {
                    Node::Continue
                });
                Ok(None)
            }
            "define" | "template" | "block" => Err(self.error_at(
                &format!("{{{{{keyword}}}}} is not supported by berth's templates"),
                pos,
            )),
            _ => {
                let pipe = self.pipeline("command", false)?;
                nodes.push(Node::Action(pipe));
                Ok(None)
            }
        }
    }

    /// Expects `}}` after a keyword.
    fn close(&mut self, context: &str) -> Result<(), ParseError> {
        match self.next_non_space() {
            Some(Token {
                kind: Kind::Right, ..
            }) => Ok(()),
            Some(token) => Err(self.error_at(
                &format!("unexpected {} in {context}", describe(&token.kind)),
                token.pos,
            )),
            None => Err(self.error_at("unexpected EOF", self.end)),
        }
    }

    fn branch(&mut self, kind: BranchKind, context: &str) -> Result<Branch, ParseError> {
        let scope = self.vars.len();
        let pipe = self.pipeline(context, kind == BranchKind::Range)?;
        if kind == BranchKind::Range {
            self.range_depth += 1;
        }
        let (list, end) = self.list()?;
        if kind == BranchKind::Range {
            self.range_depth -= 1;
        }
        let else_list = match end {
            Stop::Eof => return Err(self.error_at("unexpected EOF", self.end)),
            Stop::End(_) => Vec::new(),
            Stop::Else(pos, Some(chained)) => {
                if kind == BranchKind::Range || chained != kind {
                    return Err(self.error_at("expected end; found {{else}}", pos));
                }
                // `{{else if x}}` is `{{else}}{{if x}}...{{end}}{{end}}` sharing one end.
                self.next_non_space();
                vec![Node::Branch(self.branch(chained, context)?)]
            }
            Stop::Else(_, None) => {
                let (else_list, end) = self.list()?;
                match end {
                    Stop::End(_) => else_list,
                    Stop::Else(pos, _) => {
                        return Err(self.error_at("expected end; found {{else}}", pos));
                    }
                    Stop::Eof => return Err(self.error_at("unexpected EOF", self.end)),
                }
            }
        };
        self.vars.truncate(scope);
        Ok(Branch {
            kind,
            pipe,
            list,
            else_list,
        })
    }

    /// A pipeline up to `}}` (or `)` inside parentheses: see [`Parser::operand`]).
    fn pipeline(&mut self, context: &str, range: bool) -> Result<Pipe, ParseError> {
        let end = self.end;
        let pos = self.peek_non_space().map_or(end, |t| t.pos);
        let mut pipe = Pipe {
            pos,
            decl: Vec::new(),
            assign: false,
            cmds: Vec::new(),
        };
        self.declarations(&mut pipe, range)?;
        loop {
            let Some(token) = self.peek_non_space().cloned() else {
                return Err(self.error_at("unclosed action", self.end));
            };
            match token.kind {
                Kind::Right | Kind::RightParen => {
                    if token.kind == Kind::RightParen && context != "parenthesized pipeline" {
                        return Err(self.error_at("unexpected right paren", token.pos));
                    }
                    self.next();
                    if pipe.cmds.is_empty() {
                        return Err(
                            self.error_at(&format!("missing value for {context}"), token.pos)
                        );
                    }
                    for (i, cmd) in pipe.cmds.iter().enumerate().skip(1) {
                        if matches!(
                            cmd.args[0].kind,
                            ArgKind::Bool(_)
                                | ArgKind::Dot
                                | ArgKind::Nil
                                | ArgKind::Number(..)
                                | ArgKind::Str(_)
                        ) {
                            return Err(self.error_at(
                                &format!("non executable command in pipeline stage {}", i + 1),
                                cmd.pos,
                            ));
                        }
                    }
                    return Ok(pipe);
                }
                Kind::Pipe if !pipe.cmds.is_empty() => {
                    self.next();
                }
                _ => pipe.cmds.push(self.command()?),
            }
        }
    }

    /// `$x :=`, `$x =` or (in range) `$i, $e :=` at the pipeline's start.
    fn declarations(&mut self, pipe: &mut Pipe, range: bool) -> Result<(), ParseError> {
        let start = self.at;
        let Some(Token {
            kind: Kind::Variable(first),
            ..
        }) = self.peek_non_space().cloned()
        else {
            return Ok(());
        };
        self.next();
        let mut names = vec![first];
        loop {
            match self.peek_non_space().map(|t| t.kind.clone()) {
                Some(Kind::Declare) | Some(Kind::Assign) => {
                    let assign = self.next().is_some_and(|t| t.kind == Kind::Assign);
                    pipe.assign = assign;
                    if assign {
                        for name in &names {
                            if !self.vars.contains(name) {
                                let pos = self.pos();
                                return Err(
                                    self.error_at(&format!("undefined variable \"{name}\""), pos)
                                );
                            }
                        }
                    } else {
                        self.vars.extend(names.iter().cloned());
                    }
                    pipe.decl = names;
                    return Ok(());
                }
                Some(Kind::Comma) if range && names.len() == 1 => {
                    self.next();
                    match self.next_non_space() {
                        Some(Token {
                            kind: Kind::Variable(second),
                            ..
                        }) => names.push(second),
                        _ => {
                            let pos = self.pos();
                            return Err(self.error_at("range can only initialize variables", pos));
                        }
                    }
                }
                _ => {
                    // Not a declaration: a variable used as a value.
                    self.at = start;
                    return Ok(());
                }
            }
        }
    }

    fn command(&mut self) -> Result<Command, ParseError> {
        let end = self.end;
        let pos = self.peek_non_space().map_or(end, |t| t.pos);
        let mut args = Vec::new();
        loop {
            let Some(token) = self.peek().cloned() else {
                return Err(self.error_at("unclosed action", self.end));
            };
            match token.kind {
                Kind::Space => {
                    self.next();
                }
                Kind::Right | Kind::RightParen | Kind::Pipe => break,
                _ => {
                    let arg = self.operand()?;
                    args.push(arg);
                    // Operands are separated by spaces.
                    if let Some(next) = self.peek()
                        && !matches!(
                            next.kind,
                            Kind::Space | Kind::Right | Kind::RightParen | Kind::Pipe
                        )
                    {
                        return Err(self.error_at(
                            &format!("unexpected {} in operand", describe(&next.kind)),
                            next.pos,
                        ));
                    }
                }
            }
        }
        if args.is_empty() {
            return Err(self.error_at("missing value for command", pos));
        }
        Ok(Command { pos, args })
    }

    /// A term and the fields chained to it.
    fn operand(&mut self) -> Result<Arg, ParseError> {
        let token = self.next().expect("peeked");
        let pos = token.pos;
        let kind = match token.kind {
            Kind::Dot => ArgKind::Dot,
            Kind::Field(name) => ArgKind::Field(vec![name]),
            Kind::Variable(name) => {
                if !self.vars.contains(&name) {
                    return Err(self.error_at(&format!("undefined variable \"{name}\""), pos));
                }
                ArgKind::Variable(name, Vec::new())
            }
            Kind::Str(text) => ArgKind::Str(text),
            Kind::Char(c) => ArgKind::Number(format!("'{c}'"), Number::Int(c as i64)),
            Kind::Number(text) => {
                let number = match lex::parse_int(&text) {
                    Some(i) => Number::Int(i),
                    None => Number::Float(text.replace('_', "").parse().map_err(|_| {
                        self.error_at(&format!("bad number syntax: \"{text}\""), pos)
                    })?),
                };
                ArgKind::Number(text, number)
            }
            Kind::Ident(word) => match word.as_str() {
                "true" => ArgKind::Bool(true),
                "false" => ArgKind::Bool(false),
                "nil" => ArgKind::Nil,
                name if funcs::exists(name) => ArgKind::Function(word),
                _ => return Err(self.error_at(&format!("function \"{word}\" not defined"), pos)),
            },
            Kind::LeftParen => {
                let pipe = self.pipeline("parenthesized pipeline", false)?;
                ArgKind::Chain(Box::new(pipe), Vec::new())
            }
            other => {
                return Err(
                    self.error_at(&format!("unexpected {} in operand", describe(&other)), pos)
                );
            }
        };
        // Go places a chain at its first chained field.
        let chained_pos = self.pos();
        let mut fields = Vec::new();
        while let Some(Token {
            kind: Kind::Field(name),
            ..
        }) = self.peek()
        {
            fields.push(name.clone());
            self.next();
        }
        if fields.is_empty() {
            return Ok(Arg { pos, kind });
        }
        let kind = match kind {
            ArgKind::Field(mut first) => {
                first.extend(fields);
                ArgKind::Field(first)
            }
            ArgKind::Variable(name, _) => ArgKind::Variable(name, fields),
            ArgKind::Chain(pipe, _) => ArgKind::Chain(pipe, fields),
            ArgKind::Dot => return Err(self.error_at("unexpected . after term \".\"", pos)),
            other => {
                return Err(self.error_at(
                    &format!("unexpected . after term \"{}\"", Arg { pos, kind: other }),
                    pos,
                ));
            }
        };
        Ok(Arg {
            pos: chained_pos,
            kind,
        })
    }
}

/// A token as Go's parser names it in "unexpected X in Y".
fn describe(kind: &Kind) -> String {
    match kind {
        Kind::Text(t) => format!("{t:?}"),
        Kind::Left => "\"{{\"".into(),
        Kind::Right => "\"}}\"".into(),
        Kind::Space => "space".into(),
        Kind::Ident(w) => format!("<{w}>"),
        Kind::Field(f) => format!("<.{f}>"),
        Kind::Dot => "<.>".into(),
        Kind::Variable(v) => format!("<{v}>"),
        Kind::Str(s) => format!("{s:?}"),
        Kind::Number(n) => format!("<{n}>"),
        Kind::Char(c) => format!("'{c}'"),
        Kind::Declare => "\":=\"".into(),
        Kind::Assign => "\"=\"".into(),
        Kind::Comma => "\",\"".into(),
        Kind::Pipe => "\"|\"".into(),
        Kind::LeftParen => "\"(\"".into(),
        Kind::RightParen => "\")\"".into(),
    }
}

impl fmt::Display for Arg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let fields = |f: &mut fmt::Formatter<'_>, names: &[String]| {
            names.iter().try_for_each(|n| write!(f, ".{n}"))
        };
        match &self.kind {
            ArgKind::Dot => f.write_str("."),
            ArgKind::Nil => f.write_str("nil"),
            ArgKind::Bool(b) => write!(f, "{b}"),
            ArgKind::Number(text, _) => f.write_str(text),
            ArgKind::Str(s) => write!(f, "{s:?}"),
            ArgKind::Field(names) => fields(f, names),
            ArgKind::Variable(name, names) => {
                f.write_str(name)?;
                fields(f, names)
            }
            ArgKind::Function(name) => f.write_str(name),
            ArgKind::Chain(pipe, names) => {
                write!(f, "({pipe})")?;
                fields(f, names)
            }
        }
    }
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, arg) in self.args.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{arg}")?;
        }
        Ok(())
    }
}

impl fmt::Display for Pipe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.decl.is_empty() {
            write!(
                f,
                "{} {} ",
                self.decl.join(", "),
                if self.assign { "=" } else { ":=" }
            )?;
        }
        for (i, cmd) in self.cmds.iter().enumerate() {
            if i > 0 {
                f.write_str(" | ")?;
            }
            write!(f, "{cmd}")?;
        }
        Ok(())
    }
}
