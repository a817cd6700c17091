//! Tauri's build step: embeds `tauri.conf.json`, the capabilities and the
//! icons, and checks that `frontendDist` (`../ui/dist`) exists.

fn main() {
    tauri_build::build();
}
