//! What a command prints: human lines on stdout, or one JSON document with `--json`; progress
//! goes to stderr, only when it is a terminal.

use std::io::{IsTerminal, Write};

/// Collects a command's output in the chosen format.
pub struct Output {
    json: bool,
    value: Option<serde_json::Value>,
    progress_shown: bool,
}

impl Output {
    /// Output in JSON when `json`, in text otherwise.
    pub fn new(json: bool) -> Self {
        Output {
            json,
            value: None,
            progress_shown: false,
        }
    }

    /// A line of human output (ignored with `--json`).
    pub fn line(&mut self, line: String) {
        if !self.json {
            self.clear_progress();
            println!("{}", terminal_text(&line));
        }
    }

    /// Text printed as it is (ignored with `--json`).
    pub fn raw(&mut self, text: String) {
        if !self.json {
            self.clear_progress();
            print!("{}", terminal_text(&text));
        }
    }

    /// A warning on stderr (`warning: <message>`), in both formats.
    pub fn warn(&mut self, message: &str) {
        self.clear_progress();
        eprintln!("warning: {}", terminal_text(message));
    }

    /// Whether `--json` was given (work only JSON shows can be skipped otherwise).
    pub fn is_json(&self) -> bool {
        self.json
    }

    /// The JSON result (ignored without `--json`).
    pub fn json(&mut self, value: serde_json::Value) {
        self.value = Some(value);
    }

    /// The JSON document set so far, taken out (to be wrapped into a larger one).
    pub fn take_json(&mut self) -> Option<serde_json::Value> {
        self.value.take()
    }

    /// A transient progress message on a terminal's stderr.
    pub fn progress(&mut self, message: &str) {
        let mut stderr = std::io::stderr();
        if stderr.is_terminal() {
            let _ = write!(stderr, "\r\x1b[K{}", terminal_text(message));
            let _ = stderr.flush();
            self.progress_shown = true;
        }
    }

    fn clear_progress(&mut self) {
        if self.progress_shown {
            let _ = write!(std::io::stderr(), "\r\x1b[K");
            self.progress_shown = false;
        }
    }

    /// Reports a failure: on stderr as `error: <message>`, or with `--json` as the one JSON
    /// document, `{"error": message}` (added to the result when there is one, e.g. a report; a
    /// result that is an array, a report of several items that each say how they failed, is
    /// printed as it is).
    pub fn fail(mut self, message: &str) {
        self.clear_progress();
        if self.json {
            let value = match self.value.take() {
                Some(serde_json::Value::Object(mut map)) => {
                    map.insert("error".to_owned(), message.into());
                    serde_json::Value::Object(map)
                }
                Some(array @ serde_json::Value::Array(_)) => array,
                _ => serde_json::json!({ "error": message }),
            };
            println!("{value}");
        } else {
            eprintln!("error: {}", terminal_text(message));
        }
    }

    /// Prints the JSON result, if any.
    pub fn finish(mut self) {
        self.clear_progress();
        if self.json {
            if let Some(value) = self.value.take() {
                println!("{value}");
            }
        }
    }
}

/// Human output as it may reach a terminal: line breaks and tabs as they are, every other control
/// character escaped. Messages carry text from strangers (servers, manifests, ref and file
/// names); whatever the core let through, none of it can move the cursor or recolour the screen.
fn terminal_text(text: &str) -> std::borrow::Cow<'_, str> {
    if !text
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return text.into();
    }
    text.split('\n')
        .map(|line| {
            line.split('\t')
                .map(atom::diagnostic::escape_controls)
                .collect::<Vec<_>>()
                .join("\t")
        })
        .collect::<Vec<_>>()
        .join("\n")
        .into()
}
