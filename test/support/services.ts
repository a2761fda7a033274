// The loopback services the protocol tests talk to, and a check that fails loudly when one is
// missing: a protocol test never passes (or skips) without its real peer. `.ci/run` starts them.
import net from "node:net";

export interface Service {
  /** what a person calls it, e.g. "PostgreSQL" */
  name: string;
  host: string;
  port: number;
  /** how to start it on this machine */
  start: string;
}

export const POSTGRES: Service = {
  name: "PostgreSQL",
  host: "127.0.0.1",
  port: 5432,
  start: "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start",
};
export const MARIADB: Service = {
  name: "MariaDB",
  host: "127.0.0.1",
  port: 3306,
  start: "start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd",
};
export const REDIS: Service = {
  name: "Redis",
  host: "127.0.0.1",
  port: 6379,
  start: "redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save ''",
};
export const RABBITMQ: Service = { name: "RabbitMQ", host: "127.0.0.1", port: 5672, start: "rabbitmq-server -detached" };
export const MOSQUITTO: Service = {
  name: "Mosquitto (MQTT)",
  host: "127.0.0.1",
  port: 1883,
  start: "mosquitto -d -c /etc/mosquitto/mosquitto.conf",
};
export const NATS: Service = { name: "NATS", host: "127.0.0.1", port: 4222, start: "nats-server -a 127.0.0.1 -p 4222 &" };

/** HOST:PORT of a service. */
export function serviceAddress(s: Service): string {
  return `${s.host}:${s.port}`;
}

/** Resolves when a TCP connection to the service opens within `timeoutMs`, else false. */
export function isReachable(s: Service, timeoutMs = 2000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: s.host, port: s.port });
    const done = (ok: boolean): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    socket.on("error", () => done(false));
    socket.once("connect", () => done(true));
  });
}

/**
 * Throws (fails the test, in CI and outside it) when the service does not accept connections,
 * with a message naming it, its address and how to start it.
 */
export async function requireService(s: Service): Promise<void> {
  if (await isReachable(s)) return;
  const where = process.env.CI ? " (CI: a missing service is a failure)" : "";
  throw new Error(
    `${s.name} is not reachable on ${serviceAddress(s)}${where}: start it with \`${s.start}\`, or run .ci/run, which starts every service the tests need`,
  );
}
