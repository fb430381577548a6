//! `department-portal`: the example relying party (see the library's documentation).

use clap::Parser as _;

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    let args = department_portal::Args::parse();
    department_portal::serve(args, None).await?.await?;
    Ok(())
}
