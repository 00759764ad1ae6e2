import { render } from "preact";

function App() {
  return <main>Switchboard</main>;
}

render(<App />, document.getElementById("app")!);
