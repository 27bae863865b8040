//! `oc config validate`.

use clap::Subcommand;

use super::Common;

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Parse and check the config; print the first error with file:line:column (exit 78)
    Validate,
}

pub fn run(common: &Common, cmd: ConfigCommand) -> anyhow::Result<()> {
    match cmd {
        ConfigCommand::Validate => {
            let config = common.load_config()?;
            match &config.source {
                Some(path) => println!(
                    "{}: OK ({} repo(s), agent backend {})",
                    path.display(),
                    config.repos.len(),
                    config.agent.backend.as_str()
                ),
                None => println!("no config file; built-in defaults are valid"),
            }
            Ok(())
        }
    }
}
