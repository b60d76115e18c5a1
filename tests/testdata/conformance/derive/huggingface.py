# Derives the OpenAI-side expectations for every Hugging Face fixture (see ../README.md): TGI's
# OpenAI-compatible route (huggingface-tgi.json), TGI's native generate API
# (huggingface-generate.json) and the Hugging Face router (huggingface-router.json).
import json, os, re
HERE=os.path.dirname(os.path.abspath(__file__))
D=os.path.join(HERE, '../../providers/huggingface')
man=json.load(open(f'{D}/manifest.json'))
def events(text):
    out=[]
    for block in re.split(r'\r?\n\r?\n', text):
        data=[l[5:].lstrip(' ') for l in block.splitlines() if l.startswith('data:')]
        if data and data[0]!='[DONE]': out.append(json.loads('\n'.join(data)))
    return out
def usage(u):
    return None if not u else {'prompt_tokens':u['prompt_tokens'],'completion_tokens':u['completion_tokens'],'total_tokens':u['total_tokens']}
def finish(reason, calls):
    if reason=='length': return 'length'
    return 'tool_calls' if calls else 'stop'
def args_text(a):
    return a if isinstance(a,str) else json.dumps(a,separators=(',',':'))
def chat_stream(text):
    content=''; calls={}; fin=None; u=None
    for e in events(text):
        if e.get('usage'): u=usage(e['usage'])
        for c in e.get('choices',[]):
            d=c.get('delta',{}); content+=d.get('content') or ''
            for t in d.get('tool_calls') or []:
                i=t.get('index',0); a=args_text(t['function'].get('arguments') or '')
                if i not in calls: calls[i]={'name':t['function']['name'],'arguments':a}
                else: calls[i]['arguments']+=a
            if c.get('finish_reason'): fin=c['finish_reason']
    cl=[calls[i] for i in sorted(calls)]
    return {'content':content,'tool_calls':cl,'finish_reason':finish(fin or 'stop',bool(cl)),'usage':u}
def chat_body(text, keep_ids):
    b=json.loads(text); c=b['choices'][0]; m=c['message']
    cl=[]
    for t in m.get('tool_calls') or []:
        x={'name':t['function']['name'],'arguments':args_text(t['function']['arguments'])}
        if keep_ids: x['id']=t['id']
        cl.append(x)
    return {'content':m.get('content') or '','tool_calls':cl,'finish_reason':finish(c['finish_reason'],bool(cl)),'usage':usage(b.get('usage'))}
def generate_stream(text):
    content=''; fin=None; u=None
    for e in events(text):
        if not e['token'].get('special'): content+=e['token']['text']
        if e.get('details'):
            d=e['details']; fin=finish(d['finish_reason'],False)
            u={'prompt_tokens':d.get('input_length',0),'completion_tokens':d['generated_tokens'],'total_tokens':d.get('input_length',0)+d['generated_tokens']}
    return {'content':content,'tool_calls':[],'finish_reason':fin,'usage':u}
def generate_body(text):
    b=json.loads(text); d=b['details']; p=len(d.get('prefill',[]))
    return {'content':b['generated_text'],'tool_calls':[],'finish_reason':finish(d['finish_reason'],False),'usage':{'prompt_tokens':p,'completion_tokens':d['generated_tokens'],'total_tokens':p+d['generated_tokens']}}
def openai_request(file):
    r=json.load(open(f'{D}/{file}')); r.pop('model',None)
    if r.get('stream') is False: r.pop('stream')
    r.pop('stream_options',None)
    return r
# An upstream's 401/403 means the operator's provider key is refused: the gateway's own 502, never
# the client's 401 nor the provider's words (docs/providers.md).
def auth_failed(provider):
    return {'status':502,'type':'server_error','code':'upstream_auth_failed','message':f"The provider {provider} refused the gateway's credentials; the gateway's operator must check its API key for this provider."}
ERR={400:('invalid_request_error',None),401:('authentication_error','invalid_api_key'),429:('rate_limit_error','rate_limit_exceeded'),500:('server_error',None)}
tgi=[]; gen=[]; router=[]
for f in man['fixtures']:
    name=f['name']
    if name.endswith('models'): continue
    body=open(f"{D}/{f['response']}").read()
    stream=f['response'].endswith('.sse')
    is_router=name.startswith('router_'); is_gen=f['path'] in ('/generate','/generate_stream')
    case={'fixture':name}
    if f.get('request'):
        if is_gen:
            r=json.load(open(f"{D}/{f['request']}"))
            case['openai']={'messages':[{'role':'user','content':r['inputs']}],'max_tokens':r['parameters']['max_new_tokens']}
        else:
            case['openai']=openai_request(f['request'])
    else:
        case['openai']={'messages':[{'role':'user','content':'Hello'}]}
    if stream: case['openai']['stream']=True
    up={'method':'POST','path':f['path'].split(' ')[0]}
    if f.get('request'):
        up['body']=f['request']
        up['ignore']=['model','stream','stream_options']
        if is_gen: up['ignore']=[]
    if is_router: up['headers']={'authorization':'Bearer hf-conformance-token'}
    case['upstream']=up
    if f['status']!=200:
        e=json.loads(body)['error']
        st={422:400,424:500}.get(f['status'],f['status'])
        if st in (401,403):
            case['expect']={'error':auth_failed('huggingface')}
        elif isinstance(e,dict):
            case['expect']={'error':{'status':st,'type':e['type'],'code':e['code'],'message':e['message']}}
        else:
            typ,code=ERR[st]
            case['expect']={'error':{'status':st,'type':typ,'code':code,'message':e}}
    elif is_gen: case['expect']=generate_stream(body) if stream else generate_body(body)
    elif stream: case['expect']=chat_stream(body)
    else: case['expect']=chat_body(body, keep_ids=is_router)
    (router if is_router else gen if is_gen else tgi).append(case)
def dump(name, api, cases, key):
    json.dump({'provider':name,'fixtures':'huggingface','config':{'type':'huggingface','api':api,**({'api_key_env':f'AIMARKET_CONFORMANCE_{api.upper()}_KEY','api_key':key} if key else {})},'cases':cases},open(os.path.join(HERE,f'../{name}.json'),'w'),indent=1,ensure_ascii=False)
dump('huggingface-tgi','tgi',tgi,'')
dump('huggingface-generate','generate',gen,'')
dump('huggingface-router','router',router,'hf-conformance-token')
for c in tgi+gen+router: print(c['fixture'], json.dumps(c['expect'])[:150])
