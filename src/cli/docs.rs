//! Shell completions and man pages, generated from the same clap definitions
//! that parse the command line, so they cannot drift from the flags.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use clap_complete::Shell;

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to generate for.
    #[arg(value_enum)]
    pub shell: Shell,
}

#[derive(Debug, Args)]
pub struct ManArgs {
    /// Directory to write the pages into.
    #[arg(long, default_value = "man")]
    pub out_dir: PathBuf,
}

pub fn completions(args: CompletionsArgs) -> anyhow::Result<()> {
    let mut cmd = super::command();
    clap_complete::generate(args.shell, &mut cmd, "kafka-rs", &mut std::io::stdout());
    Ok(())
}

/// Renders `kafka-rs.1` and one `kafka-rs-<sub>.1` per subcommand.
pub fn render_man_pages() -> anyhow::Result<Vec<(String, Vec<u8>)>> {
    let cmd = super::command();
    let mut pages = Vec::new();
    let mut buf = Vec::new();
    clap_mangen::Man::new(cmd.clone()).render(&mut buf)?;
    pages.push(("kafka-rs.1".to_string(), buf));
    for sub in cmd.get_subcommands() {
        let name = format!("kafka-rs-{}", sub.get_name());
        let sub = sub.clone().name(name.clone());
        let mut buf = Vec::new();
        clap_mangen::Man::new(sub).render(&mut buf)?;
        pages.push((format!("{name}.1"), buf));
    }
    Ok(pages)
}

pub fn man(args: ManArgs) -> anyhow::Result<()> {
    std::fs::create_dir_all(&args.out_dir)
        .with_context(|| format!("cannot create {}", args.out_dir.display()))?;
    for (name, bytes) in render_man_pages()? {
        let path = args.out_dir.join(&name);
        std::fs::write(&path, bytes).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}
