//! TAP output. A check's description names the field, never its value, so the harness can
//! compare the same check across runtimes; values go after `#`.

#[derive(Default)]
pub struct Tap {
    n: usize,
    failed: usize,
}

impl Tap {
    /// One check: `got` against `want`, equal means ok.
    pub fn eq<T: PartialEq + std::fmt::Debug>(&mut self, what: &str, got: T, want: T) {
        if got == want {
            self.ok(what);
        } else {
            self.fail(what, &format!("got {got:?}, want {want:?}"));
        }
    }

    /// One check with its outcome computed by the caller: Err carries why it failed.
    pub fn check(&mut self, what: &str, outcome: Result<(), String>) {
        match outcome {
            Ok(()) => self.ok(what),
            Err(why) => self.fail(what, &why),
        }
    }

    pub fn ok(&mut self, what: &str) {
        self.n += 1;
        println!("ok {} - {what}", self.n);
    }

    pub fn fail(&mut self, what: &str, why: &str) {
        self.n += 1;
        self.failed += 1;
        println!("not ok {} - {what} # {}", self.n, why.replace('\n', " "));
    }

    pub fn skip(&mut self, what: &str, why: &str) {
        self.n += 1;
        println!("ok {} - {what} # SKIP {why}", self.n);
    }

    /// Prints the plan and returns the exit status.
    pub fn finish(self) -> i32 {
        println!("1..{}", self.n);
        i32::from(self.failed > 0)
    }
}
