import type { LinksFunction, LoaderFunctionArgs, MetaFunction } from "@remix-run/node";
import { json } from "@remix-run/node";
import {
  Form,
  isRouteErrorResponse,
  Link,
  Links,
  Meta,
  NavLink,
  Outlet,
  Scripts,
  ScrollRestoration,
  useLoaderData,
  useRouteError,
  useRouteLoaderData,
} from "@remix-run/react";
import { getBrowserSession, csrfToken, getRequestUser } from "./auth/session.server";
import { useNonce } from "./components/nonce";
import stylesheet from "./styles/app.css";

export const links: LinksFunction = () => [
  { rel: "stylesheet", href: stylesheet },
  { rel: "icon", href: "/favicon.svg", type: "image/svg+xml" },
];

export const meta: MetaFunction = () => [{ title: "Toolgate" }];

export async function loader({ request, context }: LoaderFunctionArgs) {
  const { ctx } = context;
  const user = await getRequestUser(context, request);
  const { sid, setCookie } = await getBrowserSession(context, request);
  return json(
    { user, csrf: csrfToken(ctx, sid) },
    { headers: setCookie ? { "Set-Cookie": setCookie } : undefined },
  );
}

export type RootLoader = typeof loader;

/** The root loader's data (user and CSRF token) from any route. */
export function useRootData() {
  return useRouteLoaderData<RootLoader>("root");
}

function Header() {
  const data = useRootData();
  const user = data?.user;
  return (
    <header className="site-header">
      <div className="container site-header__inner">
        <Link to="/" className="brand" aria-label="Toolgate home">
          <span className="brand__mark" aria-hidden="true">
            ◆
          </span>
          Toolgate
        </Link>
        {user ? (
          <nav aria-label="Main" className="site-nav">
            <NavLink to="/" end>
              Servers
            </NavLink>
            <NavLink to="/connections">Connected apps</NavLink>
            <Form method="post" action="/sign-out" className="inline-form">
              <input type="hidden" name="csrf" value={data.csrf} />
              <button type="submit" className="button button--quiet">
                Sign out
              </button>
            </Form>
          </nav>
        ) : null}
      </div>
    </header>
  );
}

export function Layout({ children }: { children: React.ReactNode }) {
  const nonce = useNonce();
  return (
    <html lang="en">
      <head>
        <meta charSet="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <meta name="color-scheme" content="light dark" />
        <Meta />
        <Links />
      </head>
      <body>
        <a href="#main" className="skip-link">
          Skip to content
        </a>
        <Header />
        <main id="main" className="container">
          {children}
        </main>
        <ScrollRestoration nonce={nonce} />
        <Scripts nonce={nonce} />
      </body>
    </html>
  );
}

export default function App() {
  useLoaderData<typeof loader>();
  return <Outlet />;
}

export function ErrorBoundary() {
  const error = useRouteError();
  const status = isRouteErrorResponse(error) ? error.status : 500;
  const title = status === 404 ? "Page not found" : status === 403 ? "Not allowed" : "Something went wrong";
  const message =
    status === 404
      ? "There is nothing here, or it belongs to someone else."
      : isRouteErrorResponse(error) && typeof error.data === "string" && status < 500
        ? error.data
        : "The request could not be completed. Please try again.";
  return (
    <section className="card narrow" aria-labelledby="error-title">
      <h1 id="error-title">{title}</h1>
      <p>{message}</p>
      <p>
        <Link to="/">Back to your servers</Link>
      </p>
    </section>
  );
}
