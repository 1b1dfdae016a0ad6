/** Configuration read once from the environment at start-up. */

export type LlmProvider = "litellm" | "deepseek";

export interface LlmConfig {
  provider: LlmProvider;
  /** Base URL that already ends in /v1 (no trailing slash). */
  endpoint: string;
  model: string;
  /** Never logged, never sent anywhere but the provider's Authorization header. */
  apiKey: string | undefined;
}

export interface Config {
  port: number;
  host: string;
  llm: LlmConfig;
  mcpServerUrl: string | undefined;
}

export class ConfigError extends Error {}

function env(name: string): string | undefined {
  const value = process.env[name]?.trim();
  return value ? value : undefined;
}

function stripTrailingSlashes(url: string): string {
  return url.replace(/\/+$/, "");
}

function checkUrl(name: string, value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ConfigError(`${name} is not a valid URL: ${JSON.stringify(value)}`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new ConfigError(`${name} must be an http(s) URL, got ${JSON.stringify(value)}`);
  }
  return value;
}

export function loadConfig(): Config {
  const rawPort = env("PORT");
  const port = rawPort === undefined ? 3000 : Number(rawPort);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new ConfigError(`invalid PORT ${JSON.stringify(rawPort)}`);
  }
  const host = env("HOST") ?? "127.0.0.1";

  const provider = (env("LLM_PROVIDER") ?? "litellm").toLowerCase();
  let llm: LlmConfig;
  if (provider === "litellm") {
    llm = {
      provider,
      endpoint: stripTrailingSlashes(
        checkUrl("LITELLM_ENDPOINT", env("LITELLM_ENDPOINT") ?? "http://127.0.0.1:4000/v1"),
      ),
      model: env("LITELLM_MODEL") ?? "deepseek-chat",
      apiKey: env("LITELLM_API_KEY"),
    };
  } else if (provider === "deepseek") {
    llm = {
      provider,
      endpoint: stripTrailingSlashes(
        checkUrl("DEEPSEEK_ENDPOINT", env("DEEPSEEK_ENDPOINT") ?? "https://api.deepseek.com/v1"),
      ),
      model: env("DEEPSEEK_MODEL") ?? "deepseek-chat",
      apiKey: env("DEEPSEEK_API_KEY"),
    };
  } else {
    throw new ConfigError(`LLM_PROVIDER must be "litellm" or "deepseek", got ${JSON.stringify(provider)}`);
  }

  const mcp = env("MCP_SERVER_URL");
  return { port, host, llm, mcpServerUrl: mcp === undefined ? undefined : checkUrl("MCP_SERVER_URL", mcp) };
}
