//! What the command line prints: tables and lines for people, JSON for programs
//! (`--output json`), colour only on a terminal (and never with `NO_COLOR` set).

use std::io::{self, IsTerminal, Write};

use serde::Serialize;

use crate::plan::Mark;

/// How results are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    /// Tables and lines for people.
    Table,
    /// One JSON document on standard output.
    Json,
}

/// Standard output, as the command was asked to print.
#[derive(Debug, Clone, Copy)]
pub struct Out {
    /// The format.
    pub format: OutputFormat,
    colour: bool,
}

impl Out {
    /// Printing in `format`, in colour when standard output is a terminal and `NO_COLOR`
    /// (<https://no-color.org>) is not set.
    pub fn new(format: OutputFormat) -> Self {
        let colour = format == OutputFormat::Table
            && io::stdout().is_terminal()
            && std::env::var_os("NO_COLOR").is_none_or(|value| value.is_empty());
        Self { format, colour }
    }

    /// Whether programs read the output.
    pub fn is_json(&self) -> bool {
        self.format == OutputFormat::Json
    }

    /// Prints `value` as pretty JSON.
    pub fn json<T: Serialize>(&self, value: &T) -> io::Result<()> {
        let text = serde_json::to_string_pretty(value).map_err(io::Error::other)?;
        self.line(&text)
    }

    /// Prints one line.
    pub fn line(&self, text: &str) -> io::Result<()> {
        let mut stdout = io::stdout().lock();
        writeln!(stdout, "{text}")
    }

    /// `text` marked as an addition, change or removal: green, yellow or red on a terminal.
    pub fn marked(&self, mark: Mark, text: &str) -> String {
        let line = format!("{} {text}", mark.sign());
        if !self.colour {
            return line;
        }
        let code = match mark {
            Mark::Add => "32",
            Mark::Change => "33",
            Mark::Remove => "31",
        };
        format!("\x1b[{code}m{line}\x1b[0m")
    }

    /// Prints `rows` under `headers`, each column as wide as its widest cell.
    pub fn table(&self, headers: &[&str], rows: &[Vec<String>]) -> io::Result<()> {
        let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
        for row in rows {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.chars().count());
            }
        }
        let render = |cells: Vec<&str>| {
            let padded: Vec<String> = cells
                .iter()
                .zip(&widths)
                .map(|(cell, width)| format!("{cell:<width$}"))
                .collect();
            padded.join("  ").trim_end().to_owned()
        };
        let heading = render(headers.to_vec());
        let heading = match self.colour {
            true => format!("\x1b[1m{heading}\x1b[0m"),
            false => heading,
        };
        self.line(&heading)?;
        for row in rows {
            self.line(&render(row.iter().map(String::as_str).collect()))?;
        }
        Ok(())
    }
}
