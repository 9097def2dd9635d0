package fleet

import (
	"fmt"
	"io"
)

// WriteStartLines writes what an operator runs on a newly enrolled host to start its agent:
// docs/fleet.md's two ways (systemd, a container), filled in with the hub's URL and the token.
// `infradash host add` prints them and /settings/hosts shows them, once, beside the token.
func WriteStartLines(w io.Writer, hubURL, token string) {
	fmt.Fprintf(w, `Start its agent with systemd (deploy/infradash-agent.service, binary in /usr/local/bin):

  sudo install -d -m 0700 /etc/infradash
  echo '%[2]s' | sudo install -m 0600 /dev/stdin /etc/infradash/agent-token
  echo 'HUB_URL=%[1]s' | sudo tee /etc/infradash/agent.env >/dev/null
  sudo systemctl enable --now infradash-agent

or as a container reading the host's /proc, /sys and / read-only:

  docker run -d --name infradash-agent --restart unless-stopped --pid host --network host \
    -v /proc:/host/proc:ro -v /sys:/host/sys:ro -v /:/host/root:ro -v infradash-agent:/var/lib/infradash-agent \
    -e HOST_PROC=/host/proc -e HOST_SYS=/host/sys -e HOST_ROOT=/host/root -e HOST_ETC=/host/root/etc \
    -e HUB_URL=%[1]s -e AGENT_TOKEN='%[2]s' infradash agent

Check it from the host with: infradash agent --check (see docs/fleet.md).
`, hubURL, token)
}
