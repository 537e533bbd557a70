//! A progress indicator on stderr for runs that take longer than a moment:
//! only on a terminal, only for text output, never with `-v` (the call log
//! says more) and never mixed into `-o json|yaml`.

use std::future::Future;
use std::io::Write;
use std::time::Duration;

/// Shown only after this long: quick runs stay quiet.
const DELAY: Duration = Duration::from_millis(400);
const FRAMES: [char; 4] = ['|', '/', '-', '\\'];

/// Runs `work`, showing `label` with a spinner on `sink` while it lasts
/// (when `enabled`), and clears the line afterwards.
pub async fn with_progress<T, W: Write>(
    enabled: bool,
    sink: &mut W,
    label: &str,
    work: impl Future<Output = T>,
) -> T {
    if !enabled {
        return work.await;
    }
    tokio::pin!(work);
    let mut shown = false;
    let mut tick = 0usize;
    let mut wait = DELAY;
    loop {
        tokio::select! {
            out = &mut work => {
                if shown {
                    // Erase the spinner line so the result starts clean.
                    let _ = write!(sink, "\r\x1b[2K");
                    let _ = sink.flush();
                }
                return out;
            }
            () = tokio::time::sleep(wait) => {
                let _ = write!(sink, "\r{} {label}", FRAMES[tick % FRAMES.len()]);
                let _ = sink.flush();
                shown = true;
                tick += 1;
                wait = Duration::from_millis(120);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn slow_work_shows_a_spinner_and_clears_it() {
        let mut sink = Vec::new();
        let out = with_progress(true, &mut sink, "observing", async {
            tokio::time::sleep(Duration::from_secs(1)).await;
            7
        })
        .await;
        assert_eq!(out, 7);
        let text = String::from_utf8(sink).unwrap();
        assert!(text.contains("| observing"), "{text:?}");
        assert!(text.ends_with("\r\x1b[2K"), "{text:?}");
    }

    #[tokio::test]
    async fn quick_work_and_disabled_progress_print_nothing() {
        let mut sink = Vec::new();
        with_progress(true, &mut sink, "x", async {
            tokio::time::sleep(Duration::from_millis(100)).await
        })
        .await;
        assert!(sink.is_empty());
        with_progress(false, &mut sink, "x", async {
            tokio::time::sleep(Duration::from_millis(600)).await
        })
        .await;
        assert!(sink.is_empty());
    }
}
