//! What a build prints: Docker's classic steps on stdout (`Step 2/5 : RUN ...`, ` ---> Using
//! cache`, ` ---> 1b2c3d4e5f6a`), or BuildKit's plain progress on stderr (`#3 [2/5] RUN ...`,
//! `#3 CACHED`, `#3 DONE 0.2s`), or nothing but the image id (`-q`).

use berth_image::digest::Digest;
use std::time::Instant;

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// Docker's classic builder lines, on stdout.
    Classic,
    /// BuildKit's `--progress plain`, on stderr.
    Plain,
    /// Nothing (`-q`).
    Quiet,
}

/// The build's printer.
pub struct Output {
    /// The mode.
    pub mode: Progress,
    /// Steps of all the stages built, for `Step N/M`.
    pub total: usize,
    counter: usize,
    started: Instant,
}

impl Output {
    /// A printer for a build of `total` steps.
    pub fn new(mode: Progress, total: usize) -> Output {
        Output {
            mode,
            total,
            counter: 0,
            started: Instant::now(),
        }
    }

    /// A step begins: `label` is BuildKit's `[stage i/n]`, `text` the instruction.
    pub fn step(&mut self, label: &str, text: &str) {
        self.counter += 1;
        self.started = Instant::now();
        match self.mode {
            Progress::Classic => println!("Step {}/{} : {text}", self.counter, self.total),
            Progress::Plain => eprintln!("#{} {label} {text}", self.counter),
            Progress::Quiet => {}
        }
    }

    /// The step's result, `id`, was in the cache.
    pub fn cached(&self, id: &Digest) {
        match self.mode {
            Progress::Classic => println!(" ---> Using cache\n ---> {}", &id.hex()[..12]),
            Progress::Plain => eprintln!("#{} CACHED", self.counter),
            Progress::Quiet => {}
        }
    }

    /// The step's container runs.
    pub fn running_in(&self, short_id: &str) {
        if self.mode == Progress::Classic {
            println!(" ---> Running in {short_id}");
        }
    }

    /// The step made `id`.
    pub fn done(&self, id: &Digest) {
        match self.mode {
            Progress::Classic => println!(" ---> {}", &id.hex()[..12]),
            Progress::Plain => eprintln!(
                "#{} DONE {:.1}s",
                self.counter,
                self.started.elapsed().as_secs_f64()
            ),
            Progress::Quiet => {}
        }
    }

    /// A warning (Docker's `[Warning] ...`).
    pub fn warning(&self, text: &str) {
        if self.mode != Progress::Quiet {
            eprintln!("[Warning] {text}");
        }
    }

    /// The build ended with `id`, tagged `tags`.
    pub fn finished(&self, id: &Digest, tags: &[String]) {
        match self.mode {
            Progress::Classic => {
                println!("Successfully built {}", &id.hex()[..12]);
                for tag in tags {
                    println!("Successfully tagged {tag}");
                }
            }
            Progress::Plain => {
                let n = self.counter + 1;
                eprintln!("#{n} exporting to image");
                eprintln!("#{n} writing image {id} done");
                for tag in tags {
                    eprintln!("#{n} naming to {tag} done");
                }
                eprintln!("#{n} DONE 0.0s");
            }
            Progress::Quiet => println!("{id}"),
        }
    }
}
