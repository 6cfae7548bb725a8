//! The company the scale benchmarks model (issue #21), in one place so that
//! `scale.rs` (which makes it through SCIM and the admin API) and
//! `body_build.rs` (which builds its bundle directly) stay the same shape:
//! people in groups of 100, [`SERVERS`] MCP servers of [`TOOLS_PER_SERVER`]
//! tools (5,000), and one grant for every five people.
//!
//! Included with `#[path]` (not through `support/mod.rs`), so a bench that
//! needs only this does not compile the load helpers.

/// MCP servers in the catalog.
pub const SERVERS: usize = 50;
/// Tools on each server.
pub const TOOLS_PER_SERVER: usize = 100;
/// People in each group.
pub const GROUP_SIZE: usize = 100;

/// The name of tool `t` of a server (`t000`…`t099`).
pub fn tool_name(t: usize) -> String {
    format!("t{t:03}")
}

/// Whom a grant is for: the index of a group or of a person.
pub enum Grantee {
    Group(usize),
    User(usize),
}

/// One grant: to whom, on which server (an index below [`SERVERS`]), and
/// either the whole server (`None`) or two named tools.
pub struct Grant {
    pub grantee: Grantee,
    pub server: usize,
    pub tools: Option<[String; 2]>,
}

/// The grants of `people` people in `groups` groups: ten whole-server
/// grants per group (servers g, g+5, … g+45) and two named tools for every
/// tenth person, 20,000 at 100,000 people. Every person can reach some
/// tools, as in a company that rolled MCP out.
pub fn grants(people: usize, groups: usize) -> impl Iterator<Item = Grant> {
    let for_groups = (0..groups).flat_map(|g| {
        (0..10).map(move |k| Grant {
            grantee: Grantee::Group(g),
            server: (g + k * 5) % SERVERS,
            tools: None,
        })
    });
    let for_people = (0..people).step_by(10).map(|i| {
        let t = i % TOOLS_PER_SERVER;
        Grant {
            grantee: Grantee::User(i),
            server: (i / 10 * 7) % SERVERS,
            tools: Some([tool_name(t), tool_name((t + 1) % TOOLS_PER_SERVER)]),
        }
    });
    for_groups.chain(for_people)
}
