//! Loading a spec: YAML text to a JSON value, remembering the line each JSON pointer came from, so that
//! every finding can name `file:line` as well as the pointer.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde_json::{Map, Number, Value};
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// A spec as loaded: its file, its JSON value and where in the file each value starts.
#[derive(Debug)]
pub struct SpecDocument {
    /// The path as given, used in messages.
    pub path: PathBuf,
    /// The document as JSON.
    pub value: Value,
    lines: BTreeMap<String, usize>,
}

impl SpecDocument {
    /// Reads and parses a YAML (or JSON) spec.
    pub fn load(path: &Path) -> Result<Self> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        Self::parse(path, text)
    }

    /// Parses spec text; `path` is only used in messages.
    pub fn parse(path: &Path, text: String) -> Result<Self> {
        let mut builder = Builder::default();
        let mut parser = Parser::new_from_str(&text);
        let parsed = parser.load(&mut builder, false);
        let location = |line: usize| Location { path: path.to_path_buf(), line };
        if let Err(error) = parsed {
            anyhow::bail!("{}: {}", location(error.marker().line()), error.info());
        }
        if let Some((line, message)) = builder.error {
            anyhow::bail!("{}: {message}", location(line));
        }
        Ok(SpecDocument {
            path: path.to_path_buf(),
            value: builder.root.unwrap_or(Value::Null),
            lines: builder.lines,
        })
    }

    /// The line where the value at `pointer` starts; for a pointer that names nothing, the line of its
    /// nearest parent that exists.
    pub fn line_of(&self, pointer: &str) -> usize {
        let mut pointer = pointer;
        loop {
            if let Some(line) = self.lines.get(pointer) {
                return *line;
            }
            match pointer.rfind('/') {
                Some(slash) => pointer = &pointer[..slash],
                None => return 1,
            }
        }
    }

    /// `file:line` for `pointer`.
    pub fn location(&self, pointer: &str) -> Location {
        Location { path: self.path.clone(), line: self.line_of(pointer) }
    }
}

/// A place in a spec file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// The spec file.
    pub path: PathBuf,
    /// 1-based.
    pub line: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.path.display(), self.line)
    }
}

/// Escapes one reference token of a JSON pointer (RFC 6901).
pub fn escape_token(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

/// Unescapes one reference token of a JSON pointer (RFC 6901).
pub fn unescape_token(token: &str) -> String {
    token.replace("~1", "/").replace("~0", "~")
}

enum Frame {
    Sequence { pointer: String, items: Vec<Value>, anchor: usize },
    Mapping { pointer: String, map: Map<String, Value>, key: Option<String>, anchor: usize },
}

/// Builds a JSON value from YAML parser events. yaml-rust2's own loader forgets positions, and silently
/// keeps the last of two equal keys; a spec with a duplicate key is an error here.
#[derive(Default)]
struct Builder {
    stack: Vec<Frame>,
    root: Option<Value>,
    anchors: BTreeMap<usize, Value>,
    lines: BTreeMap<String, usize>,
    error: Option<(usize, String)>,
}

impl Builder {
    /// The pointer of the value that starts now.
    fn child_pointer(&self) -> String {
        match self.stack.last() {
            None => String::new(),
            Some(Frame::Sequence { pointer, items, .. }) => format!("{pointer}/{}", items.len()),
            Some(Frame::Mapping { pointer, key: Some(key), .. }) => {
                format!("{pointer}/{}", escape_token(key))
            }
            // A key that is itself a collection: rejected in `complete`.
            Some(Frame::Mapping { pointer, key: None, .. }) => pointer.clone(),
        }
    }

    fn expecting_key(&self) -> bool {
        matches!(self.stack.last(), Some(Frame::Mapping { key: None, .. }))
    }

    fn fail(&mut self, mark: Marker, message: String) {
        self.error.get_or_insert((mark.line(), message));
    }

    /// Places a finished value in its parent.
    fn complete(&mut self, value: Value, anchor: usize, mark: Marker) {
        if anchor != 0 {
            self.anchors.insert(anchor, value.clone());
        }
        let pointer = self.child_pointer();
        match self.stack.last_mut() {
            None => self.root = Some(value),
            Some(Frame::Sequence { items, .. }) => {
                self.lines.entry(pointer).or_insert(mark.line());
                items.push(value);
            }
            Some(Frame::Mapping { key: key @ None, .. }) => match value {
                Value::String(text) => {
                    let pointer = format!("{pointer}/{}", escape_token(&text));
                    self.lines.insert(pointer, mark.line());
                    *key = Some(text);
                }
                _ => self.fail(mark, "a mapping key must be a scalar".to_owned()),
            },
            Some(Frame::Mapping { map, key: key @ Some(_), .. }) => {
                let name = key.take().unwrap_or_default();
                if map.insert(name.clone(), value).is_some() {
                    self.fail(mark, format!("duplicate key `{name}` at {pointer}"));
                }
            }
        }
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, event: Event, mark: Marker) {
        match event {
            Event::Scalar(text, style, anchor, _tag) => {
                let value = if self.expecting_key() || style != TScalarStyle::Plain {
                    Value::String(text)
                } else {
                    plain_scalar(text)
                };
                self.complete(value, anchor, mark);
            }
            Event::SequenceStart(anchor, _) => {
                let pointer = self.child_pointer();
                self.lines.entry(pointer.clone()).or_insert(mark.line());
                self.stack.push(Frame::Sequence { pointer, items: Vec::new(), anchor });
            }
            Event::MappingStart(anchor, _) => {
                let pointer = self.child_pointer();
                self.lines.entry(pointer.clone()).or_insert(mark.line());
                self.stack.push(Frame::Mapping { pointer, map: Map::new(), key: None, anchor });
            }
            Event::SequenceEnd | Event::MappingEnd => match self.stack.pop() {
                Some(Frame::Sequence { items, anchor, .. }) => {
                    self.complete(Value::Array(items), anchor, mark)
                }
                Some(Frame::Mapping { map, anchor, .. }) => {
                    self.complete(Value::Object(map), anchor, mark)
                }
                None => {}
            },
            Event::Alias(anchor) => match self.anchors.get(&anchor).cloned() {
                Some(value) => self.complete(value, 0, mark),
                None => self.fail(mark, "an alias to an unknown anchor".to_owned()),
            },
            Event::Nothing
            | Event::StreamStart
            | Event::StreamEnd
            | Event::DocumentStart
            | Event::DocumentEnd => {}
        }
    }
}

/// A copy of the spec for the code generators: without the validation-only rules.
pub fn without_validation_only(value: &Value) -> Value {
    let mut value = value.clone();
    strip_validation_only(&mut value);
    value
}

/// Removes the `allOf` entries marked `x-validation-only: true`: rules for validators that typify cannot
/// turn into types (see spec/README.md). Nothing else is removed.
pub fn strip_validation_only(value: &mut Value) {
    match value {
        Value::Object(map) => {
            if let Some(Value::Array(entries)) = map.get_mut("allOf") {
                entries.retain(|entry| entry.get("x-validation-only") != Some(&Value::Bool(true)));
                if entries.is_empty() {
                    map.remove("allOf");
                }
            }
            map.values_mut().for_each(strip_validation_only);
        }
        Value::Array(items) => items.iter_mut().for_each(strip_validation_only),
        _ => {}
    }
}

/// Resolves a plain (unquoted) scalar by the YAML 1.2 core schema.
fn plain_scalar(text: String) -> Value {
    match text.as_str() {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        _ => {}
    }
    if let Ok(integer) = text.parse::<i64>() {
        return Value::Number(integer.into());
    }
    let looks_numeric = text.bytes().all(|b| b.is_ascii_digit() || b"+-.eE".contains(&b))
        && text.bytes().any(|b| b.is_ascii_digit());
    if looks_numeric && let Some(number) = text.parse::<f64>().ok().and_then(Number::from_f64) {
        return Value::Number(number);
    }
    Value::String(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<SpecDocument> {
        SpecDocument::parse(Path::new("t.yaml"), text.to_owned())
    }

    #[test]
    fn values_and_lines() {
        let doc =
            parse("a: 1\nb:\n  - x\n  - 'true'\n  - true\nc: {d: 2.5, e: ~}\n'200': ok\n").unwrap();
        assert_eq!(
            doc.value,
            serde_json::json!({"a": 1, "b": ["x", "true", true], "c": {"d": 2.5, "e": null}, "200": "ok"})
        );
        assert_eq!(doc.line_of("/a"), 1);
        assert_eq!(doc.line_of("/b/1"), 4);
        assert_eq!(doc.line_of("/c/e"), 6);
        assert_eq!(doc.line_of("/200"), 7);
        assert_eq!(doc.line_of("/b/9/z"), 2, "a missing pointer falls back to its parent");
    }

    #[test]
    fn duplicate_keys_are_errors_with_their_line() {
        let error = parse("a: 1\nb: 2\na: 3\n").unwrap_err().to_string();
        assert!(error.starts_with("t.yaml:3:"), "{error}");
        assert!(error.contains("duplicate key `a`"), "{error}");
    }

    #[test]
    fn syntax_errors_name_their_line() {
        let error = parse("a: [1, 2\nb: 3\n").unwrap_err().to_string();
        assert!(error.starts_with("t.yaml:"), "{error}");
    }

    #[test]
    fn anchors_and_aliases_are_expanded() {
        let doc = parse("a: &x {b: 1}\nc: *x\n").unwrap();
        assert_eq!(doc.value["c"], serde_json::json!({"b": 1}));
    }
}
